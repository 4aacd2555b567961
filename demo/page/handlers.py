"""Event handlers of the run: start (a streaming generator, also the `/adapt` API), stop, reset, scrub.

Outputs of a run, in order: meta grid, baseline grid, loss plot, status, before/after picture,
step slider, filmstrip GIF, adapted-generator zip. While streaming, the last four are `gr.skip()`.
"""
from __future__ import annotations

import math
import os
import time

import gradio as gr

from demo.runtime.checkpoints import Models
from demo.runtime.domains import credit_line
from demo.runtime.downloads import export_generator, filmstrip
from demo.runtime.engine import Settings
from demo.runtime.fallback import frames_with_fallback
from demo.runtime.render import before_after, loss_table, sample_grid, status_line, waiting_line
from demo.runtime.request import check_domain, make_lanes, require_checkpoint, run_settings
from demo.runtime.scheduler import Waiting
from demo.runtime.session import Session, sweep_upload_stubs
from demo.runtime.shots import MAX_SHOTS
from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS

from .errors import user_errors

MAX_RUN_SECONDS = float(os.environ.get("INNER_LOOP_MAX_RUN_SECONDS", "240"))  # a run stops itself after this

try:  # on Hugging Face ZeroGPU, borrow a GPU for the run; elsewhere an identity decorator
    import spaces

    gpu = spaces.GPU(duration=MAX_RUN_SECONDS)
except ImportError:
    def gpu(fn):
        return fn


def _grids(frame):
    base = frame.samples.get("baseline")
    return sample_grid(frame.samples["meta"]), (sample_grid(base) if base is not None else None)


def plot_update(frames, steps: int):
    # LinePlot fixes its curves at the first table it draws (and none after an empty one): start at
    # step 1, when support and query losses are both there
    return gr.update(value=loss_table(frames) if len(frames) > 1 else None, x_lim=[0, steps])


def make_run(models: Models, max_seconds: float = MAX_RUN_SECONDS):
    @gpu
    def adapt(images, inner_steps, seed, checkpoint=models.default, inner_lr=None, samples=PREVIEW_SAMPLES, sampler_steps=PREVIEW_STEPS,
              baseline=True, session: Session | None = None):
        """Adapt on 1-10 example images; stream sample grids and losses after every inner step."""
        session = session if session is not None else Session()
        sweep_upload_stubs()
        with user_errors():
            require_checkpoint(models, checkpoint)
            if images:  # the API's uploads: read the way the checkpoint draws, they are the run's examples
                session.add_uploads(images, models.domain(checkpoint))
            shots = list(session.shots)
            if not shots:
                raise gr.Error(f"Add 1-{MAX_SHOTS} example images first: upload, draw, or pick an example set.")
            check_domain(models, checkpoint, shots)
            settings = run_settings(inner_steps, samples, sampler_steps, seed, models.workers)
            lanes = make_lanes(models, checkpoint, inner_lr, baseline)
        steps = settings.inner_steps
        session.clear_run()
        session.run_id = run_id = session.run_id + 1
        # the time limit counts from the first frame (with a shared scheduler, a run may wait for its turn first)
        session.running, deadline, device = True, math.inf, models.device

        def should_stop():
            return session.stop or session.run_id != run_id or time.monotonic() > deadline

        def restart(new_device):  # out of GPU memory: the run starts over on the CPU
            nonlocal device
            device, session.frames, session.params = new_device, [], {}

        skip4 = (gr.skip(),) * 4
        try:
            for frame in frames_with_fallback(lanes, shots, settings, should_stop, restart, gr.Warning, models.scheduler):
                if isinstance(frame, Waiting):
                    yield (gr.skip(),) * 3 + (waiting_line(frame),) + skip4
                    continue
                session.keep(frame)
                first = frame.step == 0
                if first:
                    deadline = time.monotonic() + max_seconds
                yield (*_grids(frame), plot_update(session.frames, steps), status_line(frame, device, steps),
                       *(cleared_review() if first else skip4))
                if not all(math.isfinite(v) for v in frame.support_loss.values()):
                    gr.Warning(f"The loss diverged at step {frame.step}: try a smaller inner learning rate.")
                    break
        finally:
            session.running = False
        if session.run_id != run_id:  # reset (or a newer run) took over: leave its outputs alone
            return
        if not session.frames:  # stopped while waiting for a turn
            yield (gr.skip(),) * 3 + ("Stopped before the first step. Press **Run** to start again.",) + skip4
            return
        note = ""
        if time.monotonic() > deadline and session.frames[-1].step < steps:
            note = f" · stopped at the time limit of {max_seconds:g} s per run: try fewer inner steps or samples"
            gr.Warning(f"This run reached the time limit of {max_seconds:g} s and stopped at step {session.frames[-1].step}.")
        yield finish(device, session, shots, settings, lanes, checkpoint, steps, note)

    return adapt


def finish(device, session: Session, shots, settings: Settings, lanes, checkpoint: str, steps: int, note: str = ""):
    """Final outputs: last grids, before/after, scrub slider, filmstrip and the adapted generator."""
    frames, last = session.frames, session.frames[-1]
    stopped = last.step < steps
    folder = session.run_dir()
    credit = credit_line(*(lane.generator.record for lane in lanes.values()))
    gif = filmstrip(frames, shots, folder, credit)  # the run's shots: the gallery may have changed meanwhile
    zip_path = export_generator(lanes["meta"].generator, session.params["meta"], folder, checkpoint=checkpoint,
                                inner=lanes["meta"].cfg, steps=last.step, shots=len(shots), seed=settings.seed)
    slider = gr.update(value=last.step, maximum=max(last.step, 1), interactive=last.step > 0)
    return (*_grids(last), plot_update(frames, steps), status_line(last, device, steps, stopped=stopped, done=not stopped) + note,
            before_after(frames, shots, credit), slider, str(gif), str(zip_path))  # plain paths: API clients get files


def cleared_review():
    return None, gr.update(value=0, maximum=1, interactive=False), None, None


def request_stop(session: Session) -> None:
    """queue=False: runs at once, even while the run holds the worker; the run sees it next step."""
    if session.running:
        session.stop = True


def reset(session: Session):
    session.run_id = session.run_id + 1  # a running run stops and leaves outputs alone
    session.shots, session.selected = [], None
    session.clear_run()
    return ([], None, None, None, "Cleared. Add examples, then press **Run**.", *cleared_review())


def show_step(step, session: Session):
    """Scrub: show the frame of a given step from this session's run."""
    if not session.frames:
        return gr.skip(), gr.skip(), gr.skip()
    frame = min(session.frames, key=lambda f: abs(f.step - int(step)))
    meta, base = _grids(frame)
    return meta, base, f"Showing step {frame.step} of the last run (drag the slider to scrub)."
