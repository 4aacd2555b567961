"""Step 2 of the page: Run / Stop / Reset, the two live grids, the live chart, and the Details.

Plain words first; the settings, each lane's inner loop and the losses are behind "Details".
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.runtime.checkpoints import Models, inner_config
from demo.runtime.domains import credit_line
from demo.runtime.lanes import lane_details, title
from meta.sampling import PREVIEW_SAMPLES, PREVIEW_STEPS

CHART = "How many of each side's samples look like your examples"
MEASURE = """
**What the chart measures.** After every learning step, the page's judge (a small network trained only
to tell drawings of different characters apart, `meta/judge.py`) looks at each side's samples. A sample
*looks like your examples* when the judge places it (1) nearer to your examples' average than to any of
20 other characters drawn by code (`meta/glyphs.py`; for colour icons, the other icon families of
`meta/icons.py`), and (2) within the spread of your own examples: no farther from their average than
your farthest example lies from the average of the others (leave-one-out). The grey line is the
*ceiling*: your own examples scored the same way, each against the average of the others. A distractor
the judge cannot tell from your examples is left out. With one example there is no spread to measure:
only test (1) applies and there is no ceiling. A copy of one of your examples would pass: the chart
says "recognisable", the grids show whether the samples are new.
"""
LOSSES = """
**The losses** (below) are what the learning steps optimise: the denoising loss on your examples (the
*support*), and, with two or more examples, on your last example for a copy of each side that learns
from the others only (the held-out *query*). They weigh fine, low-noise detail most, while a
character's shape is decided at high noise, so they can rise while the samples become your character.
"""


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
    presenter: gr.Button
    status: gr.Markdown
    meta_title: gr.Markdown
    baseline_title: gr.Markdown
    meta_grid: gr.Image
    baseline_grid: gr.Image
    plot: gr.LinePlot  # the live chart: samples that look like your examples
    losses: gr.LinePlot  # in Details
    credit: gr.Markdown  # the data's attribution, while a checkpoint that owes one is selected


DEFAULT_STEPS = 20
READY = "Press **Run**: both start from the same noise and learn from your examples, one step at a time."
# one click: bigger grids, fewer controls (CSS in app.py); the page stays where it is
PRESENTER = """() => { const on = document.body.classList.toggle('presenter');
  const b = document.querySelector('#presenter-btn'); if (b) b.innerText = on ? 'Full page' : 'Presenter view';
  document.querySelector('#run-heading')?.scrollIntoView({block: 'start'}); }"""
SHOW_LIVE = "() => { document.querySelector('#run-heading')?.scrollIntoView({block: 'start', behavior: 'smooth'}); }"


def lane_titles(models: Models, checkpoint: str):
    """-> (left title, right title, whether a right lane exists) as the grids' captions."""
    pair = models.pairing(checkpoint)
    left = f"#### Left · {title(models.records[checkpoint])}"
    if not pair.baseline:
        return left, "#### (no comparison start installed)", False
    return left, f"#### Right · {title(models.records[pair.baseline])}", True


def credit_text(models: Models, checkpoint: str) -> str:
    """The data credit owed while this checkpoint (and the lane beside it) draws ("" when none is)."""
    pair = models.pairing(checkpoint)
    line = credit_line(*(models.records[n] for n in (checkpoint, pair.baseline) if n))
    return f"<small>{line}.</small>" if line else ""


def credit_markdown(models: Models, checkpoint: str):
    text = credit_text(models, checkpoint)
    return gr.update(value=text, visible=bool(text))


def on_checkpoint(models: Models, checkpoint: str):
    """-> inner_lr, lane info, credit, left title, right title, baseline checkbox."""
    if checkpoint not in models.records:  # cleared or stale: leave the settings as they are
        return (gr.skip(),) * 6
    left, right, paired = lane_titles(models, checkpoint)
    return (inner_config(models.records[checkpoint]).inner_lr, lane_details(models, checkpoint),
            credit_markdown(models, checkpoint), left, right, gr.update(value=paired, interactive=paired))


def create_run_panel(models: Models) -> RunPanel:
    default = models.default
    left, right, paired = lane_titles(models, default)
    with gr.Row(equal_height=True, elem_id="run-heading"):
        gr.Markdown("### 2 · Watch them learn")
        presenter = gr.Button("Presenter view", size="sm", scale=0, min_width=150, elem_id="presenter-btn")
    with gr.Row(equal_height=True, elem_id="live"):
        inner_steps = gr.Slider(1, 100, value=DEFAULT_STEPS, step=1, label="Learning steps", scale=3, elem_id="inner-steps")
        run = gr.Button("Run", variant="primary", scale=1, min_width=90, elem_id="run-btn")
        stop = gr.Button("Stop", variant="stop", scale=1, min_width=90, elem_id="stop-btn")
        reset = gr.Button("Reset", scale=1, min_width=90, elem_id="reset-btn")
    status = gr.Markdown(READY, elem_id="status")
    with gr.Row(equal_height=True, elem_id="lanes"):
        with gr.Column(min_width=200):
            meta_title = gr.Markdown(left, elem_id="meta-title")
            # no label on the grids: a Gradio label floats over the top-left samples
            meta_grid = gr.Image(show_label=False, format="png", type="pil", interactive=False, elem_id="meta-grid",
                                 buttons=[])
        with gr.Column(min_width=200):
            baseline_title = gr.Markdown(right, elem_id="baseline-title")
            baseline_grid = gr.Image(show_label=False, format="png", type="pil", interactive=False,
                                     elem_id="baseline-grid", buttons=[])
    plot = gr.LinePlot(None, x="step", y="percent", color="curve", y_lim=[0, 105], x_lim=[0, 20], label=CHART,
                       x_title="learning step", y_title="% of samples", x_axis_format="d", color_title="",
                       elem_id="likeness-chart")
    text = credit_text(models, default)
    credit = gr.Markdown(text, visible=bool(text), elem_id="data-credit")
    with gr.Accordion("Details: settings, each side's learning steps, the chart, the losses", open=False,
                      elem_id="details"):
        with gr.Row():
            # every checkpoint is a valid API value; the page narrows the list to its domain's (demo.page.switch)
            checkpoint = gr.Dropdown(models.choices(), value=default, label="Generator (checkpoint)", scale=3,
                                     elem_id="checkpoint")
            # no Gradio bounds (they are inclusive, and 0 is no learning rate): the run checks it as
            # InnerConfig.validate does (positive, finite, below 1000) and says so with a gr.Error
            inner_lr = gr.Number(inner_config(models.records[default]).inner_lr, label="Inner learning rate (inner_lr)",
                                 scale=1, elem_id="inner-lr")
        with gr.Row():
            samples = gr.Slider(1, 16, value=PREVIEW_SAMPLES, step=1, label="Samples per grid")
            sampler_steps = gr.Slider(2, 50, value=PREVIEW_STEPS, step=1, label="Sampler steps (DPM-Solver++)")
            seed = gr.Number(0, precision=0, label="Seed (noise and inner loop)")
        baseline = gr.Checkbox(paired, label="Run the comparison start beside it", interactive=paired,
                               elem_id="baseline-on")
        lane_info = gr.Markdown(lane_details(models, default), elem_id="lane-info")
        gr.Markdown(MEASURE + LOSSES)
        losses = gr.LinePlot(None, x="step", y="loss", color="curve", label="Denoising loss (lower fits better)",
                             x_title="learning step", y_title="denoising loss", x_axis_format="d", elem_id="loss-plot")
    presenter.click(None, None, None, js=PRESENTER, queue=False, api_visibility="private")
    checkpoint.change(lambda c: on_checkpoint(models, c), checkpoint,
                      [inner_lr, lane_info, credit, meta_title, baseline_title, baseline], api_visibility="private")
    return RunPanel(checkpoint, inner_steps, seed, inner_lr, samples, sampler_steps, baseline, lane_info, run, stop,
                    reset, presenter, status, meta_title, baseline_title, meta_grid, baseline_grid, plot, losses, credit)
