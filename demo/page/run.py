"""Step 2 of the page: settings, Run / Stop / Reset, and the live view of both starting points."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.runtime.checkpoints import Models, inner_config
from demo.runtime.domains import credit_line
from demo.runtime.render import TITLES
from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS

COLORS = {"meta-learned: support": "#9ecae1", "meta-learned: held-out query": "#08519c",
          "ordinary: support": "#fdae6b", "ordinary: held-out query": "#a63603"}


@dataclass
class RunPanel:
    checkpoint: gr.Dropdown
    inner_steps: gr.Slider
    seed: gr.Number
    inner_lr: gr.Number
    samples: gr.Slider
    sampler_steps: gr.Slider
    baseline: gr.Checkbox
    lane_info: gr.Markdown
    run: gr.Button
    stop: gr.Button
    reset: gr.Button
    status: gr.Markdown
    meta_grid: gr.Image
    baseline_grid: gr.Image
    plot: gr.LinePlot
    credit: gr.Markdown  # the data's attribution, while a checkpoint that owes one is selected


def describe_lanes(models: Models, checkpoint: str) -> str:
    """Say which inner loop each side runs: each checkpoint's own, from its training.json."""
    def line(title, name):
        c = inner_config(models.generators[name].record)
        return (f"- **{title}** (`{name}`): adapts `{c.adapt}` with {c.optimizer}, inner_lr {c.inner_lr:g}, "
                f"timesteps {c.t_min}-{c.t_max}")
    lines, joint = [line(TITLES["meta"], checkpoint)], models.baselines.get(models.domain(checkpoint))
    if joint and joint != checkpoint:
        lines.append(line(TITLES["baseline"], joint))
    elif not joint:
        lines.append("- No joint (ordinary) checkpoint is installed, so there is no side-by-side baseline.")
    return ("Each side runs the inner loop it was trained with (its own training.json); the learning-rate box "
            "overrides the selected generator's. Both see the same examples, the same seed and the same noise.\n"
            + "\n".join(lines))


def credit_text(models: Models, checkpoint: str) -> str:
    """The data credit owed while this checkpoint (and its domain's baseline) draws ("" when none is)."""
    joint = models.baselines.get(models.domain(checkpoint))
    line = credit_line(*(models.generators[n].record for n in (checkpoint, joint) if n))
    return f"<small>{line}.</small>" if line else ""


def credit_markdown(models: Models, checkpoint: str):
    text = credit_text(models, checkpoint)
    return gr.update(value=text, visible=bool(text))


def on_checkpoint(models: Models, checkpoint: str):
    if checkpoint not in models.generators:  # cleared or stale: leave the settings as they are
        return gr.skip(), gr.skip(), gr.skip()
    lr = inner_config(models.generators[checkpoint].record).inner_lr
    return gr.update(value=lr), describe_lanes(models, checkpoint), credit_markdown(models, checkpoint)


def create_run_panel(models: Models) -> RunPanel:
    gr.Markdown("### 2 · Adapt and watch")
    default_lr = inner_config(models.generators[models.default].record).inner_lr
    with gr.Accordion("Settings", open=False):
        with gr.Row():
            # every checkpoint is a valid API value; the page narrows the list to its domain's (demo.page.switch)
            checkpoint = gr.Dropdown(models.choices(), value=models.default, label="Generator (checkpoint)", scale=3,
                                     elem_id="checkpoint")
            # no Gradio bounds (they are inclusive, and 0 is no learning rate): the run checks it as
            # InnerConfig.validate does (positive, finite, below 1000) and says so with a gr.Error
            inner_lr = gr.Number(default_lr, label="Inner learning rate (inner_lr)", scale=1)
        with gr.Row():
            samples = gr.Slider(1, 16, value=PREVIEW_SAMPLES, step=1, label="Samples per grid")
            sampler_steps = gr.Slider(2, 50, value=PREVIEW_STEPS, step=1, label="Sampler steps (DPM-Solver++)")
            seed = gr.Number(0, precision=0, label="Seed (noise and inner loop)")
        lane_info = gr.Markdown(describe_lanes(models, models.default))
    with gr.Row(equal_height=True):
        inner_steps = gr.Slider(1, 100, value=20, step=1, label="Inner steps", scale=3, elem_id="inner-steps")
        baseline = gr.Checkbox(bool(models.baseline), label="Side by side: ordinary start", scale=1,
                               interactive=bool(models.baseline))
    with gr.Row():
        run = gr.Button("Run", variant="primary", elem_id="run-btn")
        stop = gr.Button("Stop", variant="stop", elem_id="stop-btn")
        reset = gr.Button("Reset", elem_id="reset-btn")
    status = gr.Markdown("Press **Run**: both generators start adapting to your examples, one inner step at a time.",
                         elem_id="status")
    with gr.Row(equal_height=True):
        meta_grid = gr.Image(label=TITLES["meta"], format="png", type="pil", interactive=False, elem_id="meta-grid",
                             buttons=["download"])
        baseline_grid = gr.Image(label=TITLES["baseline"], format="png", type="pil", interactive=False,
                                 elem_id="baseline-grid", buttons=["download"])
    text = credit_text(models, models.default)
    credit = gr.Markdown(text, visible=bool(text), elem_id="data-credit")
    plot = gr.LinePlot(None, x="step", y="loss", color="curve", color_map=COLORS,
                       label="Denoising loss on your examples (support) and on the one left out (held-out query)", x_title="inner step",
                       y_title="denoising loss", x_axis_format="d", elem_id="loss-plot")
    checkpoint.change(lambda c: on_checkpoint(models, c), checkpoint, [inner_lr, lane_info, credit], api_visibility="private")
    return RunPanel(checkpoint, inner_steps, seed, inner_lr, samples, sampler_steps, baseline, lane_info, run, stop,
                    reset, status, meta_grid, baseline_grid, plot, credit)
