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
    gr.Markdown("### 3 · Before and after")
    before_after = gr.Image(label="Your examples, then each start at step 0 and after its last step", format="png",
                            type="pil", interactive=False, elem_id="before-after", buttons=["download", "fullscreen"],
                            height=300)
    step = gr.Slider(0, 1, value=0, step=1, label="Scrub through the run (inner step shown in the grids above)",
                     interactive=False, elem_id="scrub")
    with gr.Row():
        # empty (and inert) until a run ends
        filmstrip = gr.DownloadButton("Download the filmstrip (animated GIF)", elem_id="filmstrip")
        generator_zip = gr.DownloadButton("Download the adapted generator (diffusers folder, zip)", elem_id="generator-zip")
    return ReviewPanel(before_after, step, filmstrip, generator_zip)
