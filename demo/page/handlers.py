"""Event handlers of the run: check, start (a streaming generator, also the `/adapt` API), stop, reset, scrub.

Outputs of a run, in order: left grid, right grid, live chart (samples that look like your examples),
status, before/after picture, step slider, filmstrip GIF, adapted-generator zip (file paths), loss
chart (Details). While streaming, the before/after, slider and downloads are `gr.skip()`.
On the page, Run first calls `check_run` (no outputs): a request the run would refuse gets one
message and no red badges, and the run starts only if the check passed. The download buttons are
made inert when a run starts and live when it has ended by page-only events (`downloads`), so the
API's outputs stay plain files.
"""
from __future__ import annotations

import math
import os
import time

import gradio as gr
import pandas as pd

from demo.runtime.checkpoints import Models
from demo.runtime.devices import on_zero_gpu
from demo.runtime.domains import credit_line
from demo.runtime.downloads import export_generator, filmstrip
from demo.runtime.engine import Settings
from demo.runtime.fallback import frames_with_fallback
from demo.runtime.lanes import names as lane_names
from demo.runtime.likeness import likeness
from demo.runtime.render import (CEILING, before_after, likeness_table, loss_table, sample_grid, status_line, verdict,
                                 waiting_line)
from demo.runtime.request import check_domain, make_lanes, require_checkpoint, run_settings
from demo.runtime.scheduler import Waiting
from demo.runtime.session import Session, sweep_upload_stubs
from demo.runtime.shots import MAX_SHOTS
from demo.runtime.zerogpu import run_seconds
from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS

from .errors import user_errors
from .zerogpu import frames_on_borrowed_gpu, gpu_duration, gpu_runner  # noqa: F401 -- gpu_duration: re-exported (demo.handlers)

MAX_RUN_SECONDS = float(os.environ.get("INNER_LOOP_MAX_RUN_SECONDS", "240"))  # a run stops itself after this
COLORS = ("#08519c", "#d95f0e")  # left, right


def _grids(frame):
    base = frame.samples.get("baseline")
    return sample_grid(frame.samples["meta"]), (sample_grid(base) if base is not None else None)


def chart_update(frames, steps: int, names: dict, ceiling: float | None):
    colors = {**dict(zip(names.values(), COLORS)), CEILING: "#969696"}
    table = likeness_table(frames, names, ceiling, steps)
    return gr.update(value=table if len(table) else None, x_lim=[0, steps], color_map=colors)


def empty_chart(curves: list[str], y: str):
    """The live chart after Reset or a switch of world: the last run's curves with no points. Not None, and
    not hidden: Gradio's plot then throws from a resize observer of the element it removed; and not
    other curve names, which the plot would keep, hiding the next run's. Nothing drawn yet: left as it is."""
    if not curves:
        return gr.skip()
    return gr.update(value=pd.DataFrame({"step": 0, y: float("nan"), "curve": curves}))


def losses_update(frames, steps: int, names: dict):
    # LinePlot fixes its curves at the first table it draws (and none after an empty one): start at
    # step 1, when support and query losses are both there
    return gr.update(value=loss_table(frames, names) if len(frames) > 1 else None, x_lim=[0, steps])


def downloads(session: Session | None = None):
    """The two download buttons: live once this session's run has ended and written its files,
    inert before (a click would fetch nothing); without a session, inert and empty."""
    ready = session is not None and not session.running and bool(session.frames) and session.files_ready
    return (gr.update(interactive=ready),) * 2 if ready else (gr.update(value=None, interactive=False),) * 2


def cleared_review():
    """Before/after, scrub slider and downloads as before any run (the page's fresh states)."""
    return None, gr.update(value=0, maximum=1, interactive=False), *downloads()


def cleared_run():
    """The same at a run's first frame, as a run's outputs (plain values for the API's files)."""
    return None, gr.update(value=0, maximum=1, interactive=False), None, None


def prepare(models: Models, images, inner_steps, seed, checkpoint, inner_lr, samples, sampler_steps, baseline,
            session: Session):
    """A run's request, checked: -> (shots, settings, lanes); a bad one raises gr.Error."""
    with user_errors():
        require_checkpoint(models, checkpoint)
        if images:  # the API's uploads: read the way the checkpoint draws, they are the run's examples
            session.add_uploads(images, models.domain(checkpoint))
        shots = list(session.shots)
        if not shots:
            raise gr.Error(f"Add 1-{MAX_SHOTS} example images first: pick a built-in set, upload pictures, or draw.")
        check_domain(models, checkpoint, shots)
        settings = run_settings(inner_steps, samples, sampler_steps, seed, models.workers)
        lanes = make_lanes(models, checkpoint, inner_lr, baseline)
    return shots, settings, lanes


def make_check(models: Models):
    def check_run(images, inner_steps, seed, checkpoint=models.default, inner_lr=None, samples=PREVIEW_SAMPLES,
                  sampler_steps=PREVIEW_STEPS, baseline=True, session: Session | None = None) -> None:
        """Refuse a run before it starts, with one message (the page's Run calls this first)."""
        prepare(models, images, inner_steps, seed, checkpoint, inner_lr, samples, sampler_steps, baseline,
                session if session is not None else Session())
    return check_run


def time_limit_note(session: Session, settings: Settings, lanes, device, max_seconds: float) -> str:
    """A run that ended before its last step by itself reached its time limit: say so (a notice, and a note
    for the status line); "" otherwise."""
    steps = settings.inner_steps
    if session.frames[-1].step >= steps:
        return ""
    limit = max_seconds
    if str(device).endswith("(ZeroGPU)"):  # within the GPU time it asked for
        limit = run_seconds(max_seconds, steps, settings.samples, settings.sampler_steps, "baseline" in lanes)
    gr.Warning(f"This run reached its time limit and stopped at step {session.frames[-1].step}.")
    return f" · stopped at the time limit of {limit:g} s per run: try fewer inner steps or samples"


def make_run(models: Models, max_seconds: float = MAX_RUN_SECONDS):
    run_on_gpu = gpu_runner(models)  # used on ZeroGPU only: a GPU lent per run, in a worker process

    def adapt(images, inner_steps, seed, checkpoint=models.default, inner_lr=None, samples=PREVIEW_SAMPLES, sampler_steps=PREVIEW_STEPS,
              baseline=True, session: Session | None = None):
        """Adapt on 1-10 example images; stream sample grids, the live chart and the status after every inner step."""
        session = session if session is not None else Session()
        sweep_upload_stubs()
        shots, settings, lanes = prepare(models, images, inner_steps, seed, checkpoint, inner_lr, samples, sampler_steps,
                                         baseline, session)
        measure = likeness(models.folder, models.domain(checkpoint), shots)
        ceiling = measure.ceiling if measure else None
        steps = settings.inner_steps
        session.clear_run()
        session.files_ready = False
        session.names = names = lane_names(lanes)
        session.run_id = run_id = session.run_id + 1
        # with the shared scheduler the time limit counts from the first frame (a run may wait for its turn first)
        deadline = math.inf if models.scheduler is not None else time.monotonic() + max_seconds
        session.running, device = True, models.device

        def should_stop():
            return session.stop or session.run_id != run_id or time.monotonic() > deadline

        def restart(new_device):  # a (re)start on another device: out of GPU memory, or no GPU lent
            nonlocal device
            device, session.frames, session.params = new_device, [], {}

        score = measure.score if measure else None
        if on_zero_gpu():
            frames = frames_on_borrowed_gpu(run_on_gpu, lanes, checkpoint, inner_lr, shots, settings, max_seconds,
                                            should_stop, restart, score)
        else:
            frames = frames_with_fallback(lanes, shots, settings, should_stop, restart, gr.Warning, score, models.scheduler)
        skip4, diverged = (gr.skip(),) * 4, False
        try:
            for frame in frames:
                if isinstance(frame, Waiting):  # the shared scheduler has no place for it yet: where it stands
                    yield (gr.skip(),) * 3 + (waiting_line(frame),) + skip4 + (gr.skip(),)
                    continue
                session.keep(frame)
                first = frame.step == 0
                if first and models.scheduler is not None:  # its time limit counts from its turn
                    deadline = time.monotonic() + max_seconds
                yield (*_grids(frame), chart_update(session.frames, steps, names, ceiling),
                       status_line(frame, steps, names, device), *(cleared_run() if first else skip4),
                       losses_update(session.frames, steps, names))
                if not all(math.isfinite(v) for v in frame.support_loss.values()):
                    gr.Warning(f"The loss diverged at step {frame.step}: try a smaller inner learning rate.")
                    diverged = True
                    break
        finally:
            frames.close()
            session.running = False
        if session.run_id != run_id:  # reset (or a newer run) took over: leave its outputs alone
            return
        if not session.frames:  # stopped while waiting for a turn
            yield (gr.skip(),) * 3 + ("Stopped before the first step. Press **Run** to start again.",) + skip4 + (gr.skip(),)
            return
        note = "" if session.stop or diverged else time_limit_note(session, settings, lanes, device, max_seconds)
        yield finish(device, session, shots, settings, lanes, checkpoint, steps, ceiling, note)

    return adapt


def finish(device, session: Session, shots, settings: Settings, lanes, checkpoint: str, steps: int,
           ceiling: float | None, note: str = ""):
    """Final outputs: last grids, chart, before/after, scrub slider, filmstrip and the adapted generator."""
    frames, last, names = session.frames, session.frames[-1], session.names
    stopped = last.step < steps
    folder = session.run_dir()
    credit = credit_line(*(lane.generator.record for lane in lanes.values()))
    gif = filmstrip(frames, shots, folder, names, credit)  # the run's shots: the gallery may have changed meanwhile
    zip_path = export_generator(lanes["meta"].generator, session.params["meta"], folder, checkpoint=checkpoint,
                                inner=lanes["meta"].cfg, steps=last.step, shots=len(shots), seed=settings.seed)
    session.files_ready = True
    slider = gr.update(value=last.step, maximum=max(last.step, 1), interactive=last.step > 0)
    status = status_line(last, steps, names, device, stopped=stopped, done=not stopped) + note
    return (*_grids(last), chart_update(frames, steps, names, ceiling), status, before_after(frames, shots, names, credit),
            slider, str(gif), str(zip_path), losses_update(frames, steps, names))  # plain paths: API clients get files


def request_stop(session: Session) -> None:
    """queue=False: runs at once, even while the run holds the worker; the run sees it next step."""
    if session.running:
        session.stop = True


def show_step(step, session: Session):
    """Scrub: show the frame of a given step from this session's run."""
    if not session.frames:
        return gr.skip(), gr.skip(), gr.skip()
    frame = min(session.frames, key=lambda f: abs(f.step - int(step)))
    meta, base = _grids(frame)
    ahead = verdict(frame, session.names)
    return meta, base, f"Showing step {frame.step} of the last run" + (f": {ahead}." if ahead else ".")
