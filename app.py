"""Inner Loop studio: watch a diffusion generator learn your glyph (or colour icon) live, beside a second start.

    python app.py [--assets assets/] [--host 127.0.0.1] [--port 7860] [--share]

The left side is the selected checkpoint (by default the domain's preferred one; it is called
meta-learned only if its training.json says it was trained through its inner loop). The right side
is the checkpoint it names as its comparison ("compare_with": the same architecture without the outer
loop, run with the identical inner loop), else the domain's ordinary (joint) generator with its own
inner loop; the header says what differs (demo/runtime/lanes.py).

Env knobs: INNER_LOOP_ASSETS (checkpoint folder), INNER_LOOP_HOST / INNER_LOOP_PORT (or Gradio's
GRADIO_SERVER_NAME / GRADIO_SERVER_PORT), INNER_LOOP_CONCURRENCY (runs at once; default 1 on CPU),
INNER_LOOP_THREADS (torch CPU threads), INNER_LOOP_WORKERS (lanes run side by side), INNER_LOOP_MAX_RUN_SECONDS
(per-run time limit, default 240), INNER_LOOP_SCHEDULER (batch: concurrent runs advance together; single: one
run at a time), INNER_LOOP_BATCH and INNER_LOOP_MAX_ACTIVE (the batch scheduler's group size and runs at once);
INNER_LOOP_EXPERIMENTAL_ICONS=1 offers the colour-icon world from the start (else behind an "Experimental" tick
box). The shipped checkpoints are checked against assets/MANIFEST.sha256 before loading; start-up loads only the
default pair (the rest on first use) and builds their preview networks in the background once the page is up.
Each visitor's examples, frames and adapted weights live in a gr.State (demo/runtime/session.py).
"""
from __future__ import annotations

import time

STARTED = time.perf_counter()
if __name__ == "__main__":  # the imports below take seconds: say so before they start
    print("Inner Loop: starting (loading gradio and torch) ...", flush=True)

import argparse  # noqa: E402
import os  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import spaces  # noqa: E402,F401 -- before torch: on a ZeroGPU Space it sets torch up for GPUs lent per run (demo/page/zerogpu.py)
import gradio as gr  # noqa: E402
import torch  # noqa: E402

from demo.page.arrival import create_share_box, wire_arrival  # noqa: E402
from demo.page.explain import create_explain_panel  # noqa: E402
from demo.page.handlers import MAX_RUN_SECONDS, downloads, make_check, make_run, request_stop, show_step  # noqa: E402
from demo.page.inputs import CLEAR_PAD, create_examples_panel  # noqa: E402
from demo.page.outer import create_outer_view  # noqa: E402
from demo.page.review import create_review_panel  # noqa: E402
from demo.page.run import SHOW_LIVE, create_run_panel  # noqa: E402
from demo.page.switch import PAGE, create_domain_switch, header, reset, switch_domain  # noqa: E402
from demo.runtime.checkpoints import ASSETS_ENV, Models, load_models  # noqa: E402
from demo.runtime.devices import on_zero_gpu  # noqa: E402
from demo.runtime.domains import DOMAINS  # noqa: E402
from demo.runtime.engine import default_workers  # noqa: E402
from demo.runtime.first_run import FirstRuns  # noqa: E402
from demo.runtime.likeness import reference  # noqa: E402
from demo.runtime.scheduler import Scheduler  # noqa: E402
from demo.runtime.session import Session, delete_session  # noqa: E402
from demo.runtime.snapshot_bank import SnapshotBank  # noqa: E402

ROOT = Path(__file__).resolve().parent
MAX_FILE_SIZE = "10mb"
CSS = """
#title h1 {margin-bottom: 0.2em}
#status {min-height: 1.6em; font-size: 1.08em}
#shots .grid-container {grid-template-columns: repeat(5, minmax(0, 1fr)) !important}
#shots .gallery-item, #shots .thumbnail-item {width: 100% !important; min-width: 0 !important; height: auto !important; aspect-ratio: 1}
#shots, #shots .grid-wrap {height: auto !important; max-height: none !important; min-height: 3em}
#meta-grid img, #baseline-grid img, #before-after img {image-rendering: pixelated}
#meta-grid .image-frame, #baseline-grid .image-frame {width: 100% !important; height: auto !important}
#meta-grid img, #baseline-grid img {width: 100% !important; height: auto !important; max-height: 60vh; object-fit: contain}
#meta-grid .icon-button-wrapper, #baseline-grid .icon-button-wrapper {display: none}
#meta-title h4, #baseline-title h4 {margin: 0.1em 0}
body.presenter #examples-col, body.presenter #details, body.presenter #review, body.presenter #how-it-works,
body.presenter #domain, body.presenter #experimental, body.presenter #share-link, body.presenter #link-note,
body.presenter #outer-view, body.presenter #title p {display: none !important}
body.presenter #meta-title h4, body.presenter #baseline-title h4 {font-size: 1.5em}
body.presenter #status {font-size: 1.3em}
body.presenter #meta-grid img, body.presenter #baseline-grid img {height: 50vh !important; max-height: 50vh}
"""


def build_app(models: Models, assets=None, concurrency: int = 1) -> gr.Blocks:
    assets = Path(assets or ROOT / "assets")
    start = models.shipped_domains()[0]
    # delete_cache: every 15 min, drop served files (streamed grids, GIFs, zips) older than an hour
    what = " and ".join(DOMAINS[d].noun for d in models.shipped_domains())
    with gr.Blocks(title=f"Inner Loop: few-shot {what} generation", delete_cache=(900, 3600)) as demo:
        session = gr.State(Session(), time_to_live=3600, delete_callback=delete_session)
        title = gr.Markdown(header(models, models.defaults[start]))
        domain = create_domain_switch(models)  # hidden unless glyph and colour-icon checkpoints are both shipped
        with gr.Row():
            with gr.Column(scale=2, min_width=260, elem_id="examples-col"):
                examples = create_examples_panel(session, start)
            with gr.Column(scale=5, elem_id="run-col"):
                run = create_run_panel(models)
                share = create_share_box()
        review = create_review_panel()
        # a replay computes on its own: beside the shared scheduler (which lets many runs in) it keeps a limit of its own
        replays = (concurrency, "adapt") if models.scheduler is None else (1, "outer-loop")
        with gr.Column(elem_id="outer-view"):
            create_outer_view(models, SnapshotBank(assets, models.generators), examples.upload, run.seed, session, *replays)
        create_explain_panel(assets, models)

        live = [run.meta_grid, run.baseline_grid, run.plot, run.status]
        after = [review.before_after, review.step, review.filmstrip, review.generator_zip]
        inputs = [examples.upload, run.inner_steps, run.seed, run.checkpoint, run.inner_lr, run.samples,
                  run.sampler_steps, run.baseline, session]
        run.run.click(None, None, None, js=SHOW_LIVE, queue=False)  # the grids come into view
        # a request the run would refuse: one message from the check, no red badges on the outputs
        checked = run.run.click(make_check(models), inputs, None, api_visibility="private")  # queued: its message shows
        files = [review.filmstrip, review.generator_zip]
        checked.success(lambda: downloads(), None, files, queue=False, api_visibility="private")  # inert while it runs
        checked.success(make_run(models), inputs, live + after + [run.losses], api_name="adapt", concurrency_limit=concurrency,
                        concurrency_id="adapt", time_limit=MAX_RUN_SECONDS + 30).then(
            downloads, session, files, queue=False, api_visibility="private")  # live once it has ended
        run.stop.click(request_stop, session, None, queue=False, api_name="stop")
        page = dict(header=title, heading=examples.heading, example_set=examples.example_set, gallery=examples.gallery,
                    caption=examples.caption, sketch=examples.sketch, upload=examples.upload, checkpoint=run.checkpoint,
                    inner_lr=run.inner_lr, lane_info=run.lane_info, credit=run.credit, meta_title=run.meta_title,
                    baseline_title=run.baseline_title, baseline=run.baseline, inner_steps=run.inner_steps,
                    meta_grid=run.meta_grid, baseline_grid=run.baseline_grid, plot=run.plot, status=run.status,
                    before_after=review.before_after, step=review.step, filmstrip=review.filmstrip,
                    zip=review.generator_zip, losses=run.losses)
        fresh = [page[name] for name in PAGE]
        private = dict(queue=False, api_visibility="private")
        run.reset.click(lambda s: reset(models, s), session, fresh, **private).then(None, None, None, js=CLEAR_PAD, **private)
        review.step.input(show_step, [review.step, session], [run.meta_grid, run.baseline_grid, run.status],
                          api_visibility="private")
        domain.input(lambda d, s: switch_domain(models, d, s), [domain, session], fresh, **private).then(
            None, None, None, js=CLEAR_PAD, **private)
        run.checkpoint.change(lambda c: header(models, c) if c in models.records else gr.skip(), run.checkpoint, title,
                              **private)
        # a first visit opens with a shared link's state (else the first built-in set) and a stored run playing;
        # the checkpoint list offers every checkpoint to the API, on the page only this domain's
        wire_arrival(demo, models, FirstRuns(assets, models), start, session, examples, run, share)
    demo.queue(default_concurrency_limit=concurrency, max_size=32)
    return demo


def launch_kwargs() -> dict:
    return dict(max_file_size=MAX_FILE_SIZE, css=CSS, theme=gr.themes.Soft(), footer_links=["api", "gradio"])


SCHEDULERS = ("batch", "single")


def default_scheduler() -> str:
    """batch, except on Hugging Face ZeroGPU, where every run borrows a GPU in a process of its own and
    runs cannot share a batch."""
    return "single" if on_zero_gpu() else "batch"


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
                   help="runs at once in Gradio's queue (0 = single: 1 on CPU, 4 on CUDA or ZeroGPU; batch: twice --max-active)")
    p.add_argument("--threads", type=int, default=int(env("INNER_LOOP_THREADS", "0")),
                   help="torch CPU threads (0 = 1 when --workers > 1, else torch's default)")
    p.add_argument("--workers", type=int, default=int(env("INNER_LOOP_WORKERS", "0")),
                   help="threads running a run's lanes side by side (0 = one per CPU core up to 4; 1 on CUDA)")
    return p.parse_args(argv)


def warm(models: Models, say) -> None:
    """In the background once the page is up: the default pair's preview networks and the start
    domain's judge, so that the first Run does not wait for them."""
    t = time.perf_counter()
    pair = models.pairing(models.default)
    models.warm([pair.meta, pair.baseline])
    reference(models.folder, models.domain(models.default))
    say(f"the default generators are warmed up ({time.perf_counter() - t:.1f} s); the others load when first chosen")


def main(argv=None) -> None:
    args = parse_args(argv)
    say = lambda msg: print(f"Inner Loop: {msg}", flush=True)  # noqa: E731
    workers = args.workers or default_workers()
    if args.threads or workers > 1:  # side-by-side lanes, one torch thread each (see demo.runtime.engine)
        torch.set_num_threads(args.threads or 1)
    say(f"libraries loaded ({time.perf_counter() - STARTED:.1f} s); reading the checkpoints in {args.assets} ...")
    try:
        models = load_models(args.assets)
    except ValueError as err:  # a missing or corrupt checkpoint: one clear message, no traceback
        raise SystemExit(f"Inner Loop cannot start: {err}") from None
    models.workers = workers if models.device.type == "cpu" else 1
    cuda = models.device.type == "cuda"
    if args.scheduler == "batch" and not on_zero_gpu():  # Gradio lets every run in; the scheduler holds the line
        models.scheduler = Scheduler(models.workers, args.batch or (32 if cuda else 8), args.max_active)
        concurrency = args.concurrency or 2 * args.max_active
    else:  # on a GPU (one's own, or one lent per run on ZeroGPU) runs are short: several at once
        concurrency = args.concurrency or (4 if cuda or on_zero_gpu() else 1)
    say(f"{len(models.records)} checkpoints found, {models.default} loaded; building the page ...")
    demo = build_app(models, args.assets, concurrency)
    # every run in Gradio's queue holds a worker thread while it waits for its next frame
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, prevent_thread_lock=True, quiet=True,
                max_threads=max(40, concurrency + 8), **launch_kwargs())
    say(f"ready in {time.perf_counter() - STARTED:.1f} s: open {demo.local_url}"
        + (f" (public link: {demo.share_url})" if args.share and demo.share_url else "") + "  (Ctrl+C stops it)")
    threading.Thread(target=warm, args=(models, say), daemon=True, name="inner-loop-warm-up").start()
    demo.block_thread()


if __name__ == "__main__":
    main()
