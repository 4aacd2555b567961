"""Step 4 of the page: the outer loop made visible. The visitor's examples go through the same inner loop
from snapshots of the start taken along meta-training (rows), one inner step per column, beside the
checkpoint's curve of validation measures vs outer iteration. Also the `/outer_loop` API."""
from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr

from demo.runtime.checkpoints import Models
from demo.runtime.outer_curve import curve_picture, load_curve
from demo.runtime.outer_grid import replay_grid, row_label
from demo.runtime.replay import CELL_SAMPLES, MAX_STEPS, check_steps, replay
from demo.runtime.snapshot_bank import SnapshotBank, preload
from demo.runtime.request import check_domain, require_checkpoint, whole_number
from demo.runtime.session import Session
from demo.runtime.shots import MAX_SHOTS

from .errors import user_errors
from .handlers import MAX_RUN_SECONDS

INTRO = """### 4 · The outer loop: learning to learn
Meta-training changed the *starting point* over thousands of outer iterations. Here your examples go through
the same inner loop from copies of the start saved along the way: **rows** are the start after more and more
outer iterations, **columns** are inner steps on your examples, every cell from the same noise. Where meta-training
worked, an early start barely moves and a later one adapts in a few steps."""
NO_SNAPSHOTS = ("No installed checkpoint has snapshots of its outer loop, so there is nothing to replay "
                "(`python -m meta.train ... --snapshots 0,100,1000,10000` saves them).")
DEFAULT_STEPS = 5


@dataclass
class OuterView:
    checkpoint: gr.Dropdown
    inner_steps: gr.Slider
    replay: gr.Button
    status: gr.Markdown
    grid: gr.Image
    curve: gr.Image
    curve_note: gr.Markdown


def curve_outputs(models: Models, bank: SnapshotBank, checkpoint):
    """The curve picture (or None) and its note, for one checkpoint."""
    if checkpoint not in models.generators:
        return None, ""
    curve, note = load_curve(bank.folder / checkpoint, models.generators[checkpoint].record)
    return (curve_picture(curve, bank.iterations(checkpoint)) if curve else None), f"<small>{note}</small>"


def placeholder(bank: SnapshotBank, checkpoint, steps: int):
    its = bank.iterations(checkpoint) if checkpoint else []
    return replay_grid(its, steps, []) if its else None


def describe_rows(its: list[int]) -> str:
    return ", ".join(row_label(i)[0].removeprefix("after ") for i in its)


def make_outer_loop(models: Models, bank: SnapshotBank, default: str | None, max_seconds: float = MAX_RUN_SECONDS):
    # on a ZeroGPU Space too this runs in the studio's process, on the CPU (its generators stay there):
    # a replay is small (CELL_SAMPLES per cell) and its visitor's Session never crosses to a lent worker
    def outer_loop(images, inner_steps=DEFAULT_STEPS, seed=0, checkpoint=default, session: Session | None = None):
        """Replay meta-training on 1-10 example images: stream the snapshots x inner steps grid, one column per update."""
        session = session if session is not None else Session()
        with user_errors():
            if checkpoint is None:
                raise ValueError(NO_SNAPSHOTS)
            require_checkpoint(models, checkpoint)
            steps, seed = check_steps(inner_steps), whole_number("Seed", 0 if seed is None else seed)
            if not bank.iterations(checkpoint):
                bank.get(checkpoint)  # raises: this checkpoint has no snapshots
            if images:  # the API's uploads: read the way the checkpoint draws, they become the examples
                session.add_uploads(images, models.domain(checkpoint))
            shots = list(session.shots)
            if not shots:
                raise ValueError(f"Add 1-{MAX_SHOTS} example images first: upload, draw, or pick an example set.")
            check_domain(models, checkpoint, shots)
            snapshots = bank.get(checkpoint)
        its, frames, deadline = [i for i, _ in snapshots], [], time.monotonic() + max_seconds
        for frame in replay(snapshots, shots, steps, seed, CELL_SAMPLES, workers=models.workers,
                            should_stop=lambda: time.monotonic() > deadline):
            frames.append(frame)
            done = frame.step == steps
            state = f"done in {frame.seconds:.1f} s" if done else f"{frame.seconds:.1f} s"
            yield (replay_grid(its, steps, frames),
                   f"**Step {frame.step} of {steps}** ({state}) · rows: the start after {describe_rows(its)} outer "
                   f"iterations · {len(shots)} examples, seed {seed}, the same noise in every cell")
        if frames[-1].step < steps:
            gr.Warning(f"The replay reached the time limit of {max_seconds:g} s at inner step {frames[-1].step}.")

    return outer_loop


def default_start(models: Models, bank: SnapshotBank) -> str | None:
    """The studio's default checkpoint where it has snapshots, else the first that has, else None."""
    names = bank.names()
    return models.default if models.default in names else (names[0] if names else None)


def create_outer_view(models: Models, bank: SnapshotBank, images: gr.File, seed: gr.Number, session: gr.State,
                      concurrency: int = 1, concurrency_id: str = "adapt") -> OuterView:
    """The view, and its Replay button wired to the visitor's examples (`images`: the upload box, also
    the API's input) and the run's seed; by default it shares the runs' concurrency limit."""
    names, default = bank.names(), default_start(models, bank)
    preload(bank, default)
    gr.Markdown(INTRO)
    with gr.Row(equal_height=True):
        # allow_custom_value: the API may name any checkpoint, and hears why one without snapshots cannot replay
        checkpoint = gr.Dropdown([(models.labels[n], n) for n in names], value=default, scale=3, elem_id="outer-checkpoint",
                                 allow_custom_value=True,
                                 label="Start (a checkpoint with outer-loop snapshots)", interactive=bool(names))
        inner_steps = gr.Slider(1, MAX_STEPS, value=DEFAULT_STEPS, step=1, label="Inner steps", scale=2,
                                elem_id="outer-steps")
        button = gr.Button("Replay meta-training on my examples", variant="primary", scale=2, elem_id="outer-btn",
                           interactive=bool(names))
    status = gr.Markdown(NO_SNAPSHOTS if not names else "Press **Replay** to run your examples through every snapshot.",
                         elem_id="outer-status")
    with gr.Row():
        with gr.Column(scale=2, min_width=420):
            # an empty grid (row labels, blank cells) until Replay fills it, one column per inner step
            grid = gr.Image(placeholder(bank, default, DEFAULT_STEPS), show_label=False, format="png", type="pil",
                            interactive=False, elem_id="outer-grid", buttons=["download", "fullscreen"], visible=bool(names))
        with gr.Column(scale=1, min_width=280):
            gr.Markdown("**The same story, measured** on validation characters, against outer iterations")
            picture, note = curve_outputs(models, bank, default or models.default)
            curve = gr.Image(picture, show_label=False, format="png", type="pil", interactive=False, elem_id="outer-curve",
                             buttons=["download", "fullscreen"], visible=picture is not None)
            curve_note = gr.Markdown(note, elem_id="outer-curve-note")

    def on_checkpoint(name):
        picture, note = curve_outputs(models, bank, name)
        return placeholder(bank, name, DEFAULT_STEPS), gr.update(value=picture, visible=picture is not None), note

    checkpoint.input(on_checkpoint, checkpoint, [grid, curve, curve_note], queue=False, api_visibility="private")
    button.click(make_outer_loop(models, bank, default), [images, inner_steps, seed, checkpoint, session], [grid, status],
                 api_name="outer_loop", concurrency_limit=concurrency, concurrency_id=concurrency_id, time_limit=MAX_RUN_SECONDS + 30)
    return OuterView(checkpoint, inner_steps, button, status, grid, curve, curve_note)
