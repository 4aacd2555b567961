"""Step 3 of the page: before vs after, a slider to scrub through the run, and the downloads."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr


@dataclass
class ReviewPanel:
    before_after: gr.Image
    step: gr.Slider
    filmstrip: gr.DownloadButton
    generator_zip: gr.DownloadButton


def create_review_panel() -> ReviewPanel:
    with gr.Column(elem_id="review"):
        gr.Markdown("### 3 · Before and after\nYour examples, then each side before its first learning step and "
                    "after its last. The slider shows any step of the run in the grids above.")
        before_after = gr.Image(show_label=False, format="png", type="pil", interactive=False, elem_id="before-after",
                                buttons=["download", "fullscreen"], height=300)
        step = gr.Slider(0, 1, value=0, step=1, label="Step shown in the grids", interactive=False, elem_id="scrub")
        gr.Markdown("Downloads are ready when a run ends (or is stopped).", elem_id="downloads-note")
        with gr.Row():
            # inert until a run has ended: a click before would fetch nothing
            filmstrip = gr.DownloadButton("Download the filmstrip (animated GIF)", interactive=False, elem_id="filmstrip")
            generator_zip = gr.DownloadButton("Download the adapted generator (diffusers folder, zip)", interactive=False,
                                              elem_id="generator-zip")
    return ReviewPanel(before_after, step, filmstrip, generator_zip)
