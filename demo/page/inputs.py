"""Step 1 of the page: the examples in use (all of them, always shown), and three ways to bring them.

A built-in set is where a visit starts; an upload or a drawing then starts the visitor's own set
(the built-in one is put aside, and the caption and a notice say so), and later ones join it.
Every change is two events: one that changes the session and may refuse with a message (no outputs,
so a refusal is one notice and no red badges), then, on success, one that shows the examples.
"""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from demo.runtime.domains import DOMAINS, GLYPHS
from demo.runtime.render import shot_pictures
from demo.runtime.session import Session
from demo.runtime.shots import MAX_SHOTS, example_sets, glyph_from_sketch, shot_from_image

from .errors import user_errors

_PAD = "(l) => document.querySelector(`#sketch button[aria-label=\"${l}\"]`)"
# Gradio 6's Sketchpad opens with no tool picked ("select the draw tool to start"): pick the brush
SELECT_BRUSH = f"""() => {{ const q = {_PAD}; let tries = 0; const pick = () => {{
  const idle = (document.querySelector('#sketch')?.innerText || '').includes('select the draw tool');
  if (q("Brush") && idle) {{ q("Brush").click(); return; }}
  if (!q("Brush") && tries++ < 40) setTimeout(pick, 150); }};  // the pad may render late on a busy machine
  setTimeout(pick, 150); }}"""
# a fresh pad for the next drawing, cleared in the browser (clearing picks no tool: pick the brush again)
CLEAR_PAD = f"""() => {{ const q = {_PAD}; q("Clear canvas")?.click(); setTimeout(() => q("Brush")?.click(), 60); }}"""


@dataclass
class ExamplesPanel:
    upload: gr.File  # also the `images` input of the /adapt API
    sketch: gr.Sketchpad
    example_set: gr.Dropdown
    gallery: gr.Gallery
    caption: gr.Markdown
    heading: gr.Markdown


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def caption(session: Session) -> str:
    """What the examples in use are, in words: a built-in set, the visitor's own, or none."""
    n, noun = len(session.shots), DOMAINS[session.domain].noun
    if not n:
        return "**No examples yet.** Upload pictures, draw, or pick a built-in set below."
    if session.source:
        return (f"**Built-in set “{session.source}”: {plural(n, noun)}.** Uploading or drawing starts a set "
                "of your own instead.")
    return (f"**Your own set: {plural(n, noun)}** (up to {MAX_SHOTS}). New uploads and drawings join it; "
            "click one to select it.")


def show_shots(session: Session):
    """-> gallery, caption: every example in use, and what they are."""
    return gr.update(value=shot_pictures(session.shots), selected_index=None), caption(session)


def started_own_set(aside: str | None) -> None:
    if aside:
        gr.Info(f"Started your own set: the built-in set “{aside}” was put aside.")


def ingest_uploads(files, session: Session) -> None:
    if not files:
        return
    with user_errors():
        started_own_set(session.add_uploads(files))


def add_drawing(value, session: Session) -> None:
    with user_errors():
        started_own_set(session.bring([glyph_from_sketch(value, session.domain)]))


def use_example_set(name, session: Session) -> None:
    sets = example_sets(session.domain)
    if name not in sets:
        raise gr.Error(f"Unknown example set {name!r}.")
    with user_errors():
        session.use_set(name, [shot_from_image(im, name, session.domain) for im in sets[name]][:MAX_SHOTS])


def select_shot(session: Session, evt: gr.SelectData):
    session.selected = evt.index


def remove_selected(session: Session) -> None:
    if session.selected is None or not 0 <= session.selected < len(session.shots):
        raise gr.Error("Click an example first, then press Remove selected.")
    del session.shots[session.selected]
    session.selected, session.source = None, None  # a built-in set with one removed is the visitor's own


def clear_shots(session: Session) -> None:
    session.shots, session.selected, session.source = [], None, None


def brush(domain: str) -> gr.Brush:
    """Glyphs: one black pen; icons: a palette of colours and a colour picker."""
    colors = list(DOMAINS[domain].brush)
    return gr.Brush(colors=colors, default_size=14, color_mode="fixed" if len(colors) == 1 else "defaults")


def intro(domain: str) -> str:
    return f"### 1 · Your examples\n{DOMAINS[domain].intro}"


def create_examples_panel(session: gr.State, domain: str = GLYPHS) -> ExamplesPanel:
    heading = gr.Markdown(intro(domain))
    shots_caption = gr.Markdown(elem_id="shots-caption")
    # no label on the picture components: a Gradio label floats over the top-left pictures
    gallery = gr.Gallery(show_label=False, columns=5, object_fit="contain", allow_preview=False, interactive=False,
                         buttons=[], elem_id="shots")  # app.py's CSS: as tall as its rows, so all are seen
    with gr.Row():
        remove = gr.Button("Remove selected", size="sm", elem_id="remove-btn")
        clear = gr.Button("Clear all", size="sm", elem_id="clear-btn")
    names = list(example_sets(domain))
    with gr.Tabs():
        with gr.Tab("Sets", elem_id="sets-tab"):
            example_set = gr.Dropdown(names, value=names[0] if names else None, label="Built-in example set",
                                      elem_id="example-set")
            use_set = gr.Button("Use this set", elem_id="use-set-btn")
        with gr.Tab("Upload", elem_id="upload-tab"):
            upload = gr.File(file_count="multiple", file_types=["image"], label="Pictures (PNG, JPEG, WebP, BMP, GIF)",
                             elem_id="upload", height=140)
        with gr.Tab("Draw", elem_id="draw-tab") as draw_tab:
            gr.Markdown("Draw one example, press **Add drawing**, then draw the next.")
            sketch = gr.Sketchpad(show_label=False, type="numpy", image_mode="RGBA", canvas_size=(280, 280),
                                  brush=brush(domain), layers=False, transforms=(), elem_id="sketch")
            add = gr.Button("Add drawing", elem_id="add-drawing-btn")

    # queued events: Gradio shows a refusal's message (gr.Error) and notices (gr.Info) only for those
    shown = dict(fn=show_shots, inputs=session, outputs=[gallery, shots_caption], api_visibility="private")
    private = dict(api_visibility="private")
    draw_tab.select(None, None, None, js=SELECT_BRUSH, queue=False, **private)
    # the upload box empties either way: the examples now hold the pictures, or a message said why not
    upload.upload(ingest_uploads, [upload, session], None, **private).then(
        lambda s: (*show_shots(s), None), session, [gallery, shots_caption, upload], **private)
    added = add.click(add_drawing, [sketch, session], None, **private)
    added.success(None, None, None, js=CLEAR_PAD, queue=False, **private)  # a fresh pad; a refused drawing stays on it
    added.success(**shown)
    use_set.click(use_example_set, [example_set, session], None, **private).success(**shown)
    example_set.input(use_example_set, [example_set, session], None, **private).success(**shown)
    gallery.select(select_shot, session, None, **private)
    remove.click(remove_selected, session, None, **private).success(**shown)
    clear.click(clear_shots, session, None, **private).success(**shown)
    return ExamplesPanel(upload, sketch, example_set, gallery, shots_caption, heading)
