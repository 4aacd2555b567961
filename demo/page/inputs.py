"""Step 1 of the page: bring 1-10 examples (upload, draw, or a built-in set) and see what the model sees."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.runtime.domains import DOMAINS, GLYPHS
from demo.runtime.render import shot_pictures
from demo.runtime.session import Session
from demo.runtime.shots import MAX_SHOTS, add_shots, example_sets, glyph_from_sketch, shot_from_image

from .errors import user_errors


# Gradio 6's Sketchpad opens with no tool picked ("select the draw tool to start"): pick the brush
SELECT_BRUSH = """() => { let tries = 0; const pick = () => {
  const brush = document.querySelector('#sketch button[aria-label="Brush"]');
  const idle = (document.querySelector('#sketch')?.innerText || '').includes('select the draw tool');
  if (brush && idle) { brush.click(); return; }
  if (!brush && tries++ < 40) setTimeout(pick, 150); };  // the pad may render late on a busy machine
  setTimeout(pick, 150); }"""


@dataclass
class ExamplesPanel:
    upload: gr.File  # also the `images` input of the /adapt API
    sketch: gr.Sketchpad
    example_set: gr.Dropdown
    gallery: gr.Gallery
    heading: gr.Markdown


def gallery_update(session: Session):
    n = len(session.shots)
    label = f"What the model sees (32x32): {n} of {MAX_SHOTS}"
    return gr.update(value=shot_pictures(session.shots), label=label, selected_index=None)


def ingest_uploads(files, session: Session):
    with user_errors():
        session.add_uploads(files)
    return gallery_update(session), None  # clear the upload box: the gallery now holds them


def add_drawing(value, session: Session):
    with user_errors():
        session.shots = add_shots(session.shots, [glyph_from_sketch(value, session.domain)])
    session.selected = None
    return gallery_update(session), None  # a fresh pad for the next drawing


def use_example_set(name, session: Session):
    sets = example_sets(session.domain)
    if name not in sets:
        raise gr.Error(f"Unknown example set {name!r}.")
    with user_errors():
        session.shots = [shot_from_image(im, name, session.domain) for im in sets[name]][:MAX_SHOTS]
    session.selected = None
    return gallery_update(session)


def select_shot(session: Session, evt: gr.SelectData):
    session.selected = evt.index


def remove_selected(session: Session):
    if session.selected is None or not 0 <= session.selected < len(session.shots):
        raise gr.Error("Click an example in the gallery first, then press Remove selected.")
    del session.shots[session.selected]
    session.selected = None
    return gallery_update(session)


def clear_shots(session: Session):
    session.shots, session.selected = [], None
    return gallery_update(session)


def brush(domain: str) -> gr.Brush:
    """Glyphs: one black pen; icons: a palette of colours and a colour picker."""
    colors = list(DOMAINS[domain].brush)
    return gr.Brush(colors=colors, default_size=14, color_mode="fixed" if len(colors) == 1 else "defaults")


def intro(domain: str) -> str:
    return f"### 1 · Your examples\n{DOMAINS[domain].intro} Click a picture below to select it."


def create_examples_panel(session: gr.State, domain: str = GLYPHS) -> ExamplesPanel:
    heading = gr.Markdown(intro(domain))
    names = list(example_sets(domain))
    with gr.Tabs():
        with gr.Tab("Example sets"):
            example_set = gr.Dropdown(names, value=names[0] if names else None, label="Built-in example set",
                                      elem_id="example-set")
            use_set = gr.Button("Use this set", elem_id="use-set-btn")
        with gr.Tab("Upload", elem_id="upload-tab"):
            upload = gr.File(file_count="multiple", file_types=["image"], label="Images (PNG, JPEG, WebP, BMP, GIF)",
                             elem_id="upload", height=140)
        with gr.Tab("Draw", elem_id="draw-tab") as draw_tab:
            sketch = gr.Sketchpad(label="Draw one example", type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                                  brush=brush(domain),
                                  layers=False, transforms=(), elem_id="sketch")
            add = gr.Button("Add drawing", elem_id="add-drawing-btn")
    gallery = gr.Gallery(label="What the model sees (32x32)", columns=5, height=150, object_fit="contain", allow_preview=False,
                         interactive=False, elem_id="shots")
    with gr.Row():
        remove = gr.Button("Remove selected", size="sm", elem_id="remove-btn")
        clear = gr.Button("Clear all", size="sm", elem_id="clear-btn")

    draw_tab.select(None, None, None, js=SELECT_BRUSH, queue=False, api_visibility="private")
    upload.upload(ingest_uploads, [upload, session], [gallery, upload], api_visibility="private")
    add.click(add_drawing, [sketch, session], [gallery, sketch], api_visibility="private").then(
        None, None, None, js=SELECT_BRUSH, queue=False)  # the cleared pad is ready for the next drawing
    use_set.click(use_example_set, [example_set, session], gallery, api_visibility="private")
    example_set.input(use_example_set, [example_set, session], gallery, api_visibility="private")
    gallery.select(select_shot, session, None, api_visibility="private")
    remove.click(remove_selected, session, gallery, api_visibility="private")
    clear.click(clear_shots, session, gallery, api_visibility="private")
    return ExamplesPanel(upload, sketch, example_set, gallery, heading)
