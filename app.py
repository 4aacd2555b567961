"""Inner Loop studio: watch a meta-learned diffusion generator adapt to your glyph (or colour icon), live.

    python app.py [--assets assets/] [--host 127.0.0.1] [--port 7860] [--share]

Env knobs: INNER_LOOP_ASSETS (checkpoint folder), INNER_LOOP_HOST / INNER_LOOP_PORT (or Gradio's
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT), INNER_LOOP_CONCURRENCY (runs at once; default 1 on CPU),
INNER_LOOP_THREADS (torch CPU threads), INNER_LOOP_WORKERS (lanes run side by side), INNER_LOOP_MAX_RUN_SECONDS (per-run time limit, default 240),
INNER_LOOP_SCHEDULER (batch: concurrent runs advance together; single: one run at a time), INNER_LOOP_BATCH and
INNER_LOOP_MAX_ACTIVE (the batch scheduler's group size and runs at once).
The shipped checkpoints are checked against assets/MANIFEST.sha256 before loading. The generators are loaded once, in `main()`; each visitor's
examples, frames and adapted weights live in a gr.State (demo/runtime/session.py).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import gradio as gr
import torch

from demo.page.explain import create_explain_panel
from demo.page.handlers import MAX_RUN_SECONDS, make_run, request_stop, reset, show_step
from demo.page.inputs import SELECT_BRUSH, create_examples_panel, use_example_set
from demo.page.review import create_review_panel
from demo.page.run import create_run_panel
from demo.page.switch import checkpoint_update, create_domain_switch, header, switch_domain
from demo.runtime.checkpoints import ASSETS_ENV, Models, load_models
from demo.runtime.domains import DOMAINS
from demo.runtime.engine import default_workers
from demo.runtime.scheduler import Scheduler
from demo.runtime.session import Session, delete_session
from demo.runtime.shots import example_sets

ROOT = Path(__file__).resolve().parent
MAX_FILE_SIZE = "10mb"
CSS = """
#title h1 {margin-bottom: 0.2em}
#meta-grid, #baseline-grid {min-height: 220px}
#status {min-height: 1.6em}
#shots .grid-container {grid-template-columns: repeat(5, minmax(0, 1fr)) !important}
#shots .gallery-item, #shots .thumbnail-item {width: 100% !important; min-width: 0 !important; height: auto !important; aspect-ratio: 1}
"""


def build_app(models: Models, assets=None, concurrency: int = 1) -> gr.Blocks:
    assets = Path(assets or ROOT / "assets")
    start = models.shipped_domains()[0]
    # delete_cache: every 15 min, drop served files (streamed grids, GIFs, zips) older than an hour
    what = " and ".join(DOMAINS[d].noun for d in models.shipped_domains())
    with gr.Blocks(title=f"Inner Loop: few-shot {what} generation", delete_cache=(900, 3600)) as demo:
        session = gr.State(Session(), time_to_live=3600, delete_callback=delete_session)
        title = gr.Markdown(header(start))
        domain = create_domain_switch(models)  # hidden unless glyph and colour-icon checkpoints are both shipped
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                examples = create_examples_panel(session, start)
            with gr.Column(scale=5):
                run = create_run_panel(models)
        review = create_review_panel()
        create_explain_panel(assets, models)

        live = [run.meta_grid, run.baseline_grid, run.plot, run.status]
        after = [review.before_after, review.step, review.filmstrip, review.generator_zip]
        inputs = [examples.upload, run.inner_steps, run.seed, run.checkpoint, run.inner_lr, run.samples,
                  run.sampler_steps, run.baseline, session]
        run.run.click(make_run(models), inputs, live + after, api_name="adapt", concurrency_limit=concurrency,
                      concurrency_id="adapt", time_limit=MAX_RUN_SECONDS + 30)
        run.stop.click(request_stop, session, None, queue=False, api_name="stop")
        run.reset.click(reset, session, [examples.gallery, *live, *after], queue=False, api_visibility="private")
        review.step.input(show_step, [review.step, session], [run.meta_grid, run.baseline_grid, run.status],
                          api_visibility="private")
        domain.input(lambda d, s: switch_domain(models, d, s), [domain, session],
                     [title, examples.heading, examples.example_set, examples.gallery, examples.sketch, examples.upload,
                      run.checkpoint, run.inner_lr, run.lane_info, run.credit, run.baseline, *live, *after],
                     queue=False, api_visibility="private").then(None, None, None, js=SELECT_BRUSH, queue=False)
        first_set = next(iter(example_sets(start)), None)
        if first_set:  # a first visit can press Run straight away
            def arrive(s: Session):
                s.domain = start
                return use_example_set(first_set, s), checkpoint_update(models, start)
            # the checkpoint list offers every checkpoint to the API; on the page, only this domain's
            demo.load(arrive, session, [examples.gallery, run.checkpoint], api_visibility="private")
    demo.queue(default_concurrency_limit=concurrency, max_size=32)
    return demo


def launch_kwargs() -> dict:
    return dict(max_file_size=MAX_FILE_SIZE, css=CSS, theme=gr.themes.Soft(), footer_links=["api", "gradio"])


SCHEDULERS = ("batch", "single")


def default_scheduler() -> str:
    """batch, except on Hugging Face ZeroGPU, where every run borrows a GPU in a process of its own and
    runs cannot share a batch."""
    return "single" if os.environ.get("SPACES_ZERO_GPU") else "batch"


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--assets", default=env(ASSETS_ENV, str(ROOT / "assets")), help="folder of checkpoints")
    p.add_argument("--host", default=env("INNER_LOOP_HOST", env("GRADIO_SERVER_NAME", "127.0.0.1")))
    p.add_argument("--port", type=int, default=int(env("INNER_LOOP_PORT", env("GRADIO_SERVER_PORT", "7860"))))
    p.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    p.add_argument("--scheduler", choices=SCHEDULERS, default=env("INNER_LOOP_SCHEDULER", default_scheduler()),
                   help="batch: concurrent runs advance together in shared batches (demo/runtime/scheduler.py); "
                        "single: one run at a time, the others wait in Gradio's queue")
    p.add_argument("--batch", type=int, default=int(env("INNER_LOOP_BATCH", "0")),
                   help="batch scheduler: runs per batched turn (0 = 8 on CPU, 32 on CUDA)")
    p.add_argument("--max-active", type=int, default=int(env("INNER_LOOP_MAX_ACTIVE", "32")),
                   help="batch scheduler: runs going at once; later ones wait in its line, told their place")
    p.add_argument("--concurrency", type=int, default=int(env("INNER_LOOP_CONCURRENCY", "0")),
                   help="runs at once in Gradio's queue (0 = single: 1 on CPU, 4 on CUDA; batch: twice --max-active)")
    p.add_argument("--threads", type=int, default=int(env("INNER_LOOP_THREADS", "0")),
                   help="torch CPU threads (0 = 1 when --workers > 1, else torch's default)")
    p.add_argument("--workers", type=int, default=int(env("INNER_LOOP_WORKERS", "0")),
                   help="threads running a run's lanes side by side (0 = one per CPU core up to 4; 1 on CUDA)")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    workers = args.workers or default_workers()
    if args.threads or workers > 1:  # side-by-side lanes, one torch thread each (see demo.runtime.engine)
        torch.set_num_threads(args.threads or 1)
    try:
        models = load_models(args.assets)
    except ValueError as err:  # a missing or corrupt checkpoint: one clear message, no traceback
        raise SystemExit(f"Inner Loop cannot start: {err}") from None
    models.workers = workers if models.device.type == "cpu" else 1
    cuda = models.device.type == "cuda"
    if args.scheduler == "batch":  # Gradio lets every run in; the scheduler holds the line (and says so)
        models.scheduler = Scheduler(models.workers, args.batch or (32 if cuda else 8), args.max_active)
        concurrency = args.concurrency or 2 * args.max_active
    else:
        concurrency = args.concurrency or (4 if cuda else 1)
    demo = build_app(models, args.assets, concurrency)
    # every run in Gradio's queue holds a worker thread while it waits for its next frame
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, max_threads=max(40, concurrency + 8),
                **launch_kwargs())


if __name__ == "__main__":
    main()
