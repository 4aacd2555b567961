"""Bringing examples: every kind of upload, drawings, example sets and the gallery's remove/clear."""
import gradio as gr
import numpy as np
import pytest
from PIL import Image, ImageDraw

from demo.page.inputs import add_drawing, caption, clear_shots, ingest_uploads, remove_selected, show_shots, use_example_set
from demo.runtime.session import Session
from demo.runtime.shots import MAX_SHOTS, example_sets, glyph_from_sketch, load_uploads


def glyph_picture(size=(120, 100), mode="RGB", ink="black", paper="white"):
    im = Image.new("RGB", size, paper)
    ImageDraw.Draw(im).line([(20, 20), (size[0] - 20, size[1] - 20), (20, size[1] - 20)], fill=ink, width=8)
    return im.convert(mode) if mode != "RGB" else im


def write(tmp_path, name, im, **kw):
    path = tmp_path / name
    im.save(path, **kw)
    return str(path)


def valid_files(tmp_path):
    """One of each accepted kind: formats, modes, alpha, animation, 16 bits, EXIF-free CMYK."""
    files = [write(tmp_path, "a.png", glyph_picture()), write(tmp_path, "b.jpg", glyph_picture(), quality=90),
             write(tmp_path, "c.webp", glyph_picture()), write(tmp_path, "d.bmp", glyph_picture()),
             write(tmp_path, "e-cmyk.jpg", glyph_picture(mode="CMYK")),
             write(tmp_path, "f-palette.png", glyph_picture(mode="P"))]
    frames = [glyph_picture(), glyph_picture(ink="red")]
    files.append(write(tmp_path, "g-animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=100))
    sixteen = (np.asarray(glyph_picture(mode="L"), dtype=np.uint16) * 257)
    files.append(write(tmp_path, "h-16bit.png", Image.fromarray(sixteen)))
    alpha = Image.new("RGBA", (90, 90), (0, 0, 0, 0))
    ImageDraw.Draw(alpha).ellipse([15, 15, 75, 75], outline=(0, 0, 0, 255), width=7)
    files.append(write(tmp_path, "i-transparent.png", alpha))
    return files


def test_every_accepted_kind_of_image_becomes_a_32x32_shot(tmp_path):
    shots = load_uploads(valid_files(tmp_path))
    assert len(shots) == 9
    for s in shots:
        assert s.shape == (32, 32) and s.dtype == np.float32
        assert s.min() >= -1 and s.max() <= 1 and (s > 0).sum() > 10  # ink is there


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_text("hello, not an image") and None, "is not an image"),
    (lambda p: p.write_bytes(open(write(p.parent, "ok.png", glyph_picture()), "rb").read()[:200]), "damaged"),
    (lambda p: glyph_picture(paper="white", ink="white").save(p, format="PNG"), "holds no drawing"),
    (lambda p: Image.new("RGBA", (50, 50), (0, 0, 0, 0)).save(p, format="PNG"), "holds no drawing"),
    (lambda p: Image.new("1", (8000, 6000)).save(p, format="PNG"), "too large"),
    (lambda p: glyph_picture().save(p, format="TIFF"), "is not an image"),
])
def test_bad_uploads_get_a_clear_message(tmp_path, make, message):
    path = tmp_path / "upload.png"
    make(path)
    with pytest.raises(gr.Error, match=message):  # the runtime's message, shown by the page
        ingest_uploads([str(path)], Session())


def test_too_many_files_and_too_many_examples(tmp_path):
    files = [write(tmp_path, f"{i}.png", glyph_picture()) for i in range(MAX_SHOTS + 1)]
    with pytest.raises(gr.Error, match="Too many images"):
        ingest_uploads(files, Session())
    session = Session()
    ingest_uploads(files[:MAX_SHOTS], session)
    with pytest.raises(gr.Error, match="Too many examples"):
        ingest_uploads(files[:1], session)
    assert len(session.shots) == MAX_SHOTS  # a refused upload leaves the set as it was


def sketch(draw=True):
    canvas = Image.new("RGBA", (280, 280), (0, 0, 0, 0))  # a transparent pad with black strokes
    if draw:
        ImageDraw.Draw(canvas).line([(40, 40), (240, 200)], fill=(0, 0, 0, 255), width=14)
    arr = np.asarray(canvas)
    return {"background": None, "layers": [arr], "composite": arr}


def test_drawings_are_added_and_blank_ones_refused():
    session = Session()
    for n in (1, 2, 3):  # three drawings in a row: three shots
        add_drawing(sketch(), session)
        assert len(session.shots) == n
    gallery, text = show_shots(session)
    assert len(gallery["value"]) == 3 and "Your own set: 3 glyphs" in text
    assert glyph_from_sketch(sketch())[16].max() > 0
    for blank in (sketch(draw=False), {"composite": None}, None):
        with pytest.raises(gr.Error, match="drawing is empty"):
            add_drawing(blank, session)
    assert len(session.shots) == 3


def test_example_sets_select_remove_and_clear():
    session = Session()
    name = next(iter(example_sets()))
    use_example_set(name, session)
    n = len(session.shots)
    assert 1 <= n <= MAX_SHOTS
    with pytest.raises(gr.Error, match="Click an example"):
        remove_selected(session)
    session.selected = 0
    kept = session.shots[1]
    remove_selected(session)
    assert len(session.shots) == n - 1 and session.shots[0] is kept
    assert session.source is None and "Your own set" in caption(session)  # a changed built-in set is the visitor's
    clear_shots(session)
    gallery, text = show_shots(session)
    assert session.shots == [] and gallery["value"] == [] and "No examples yet" in text
    with pytest.raises(gr.Error, match="Unknown example set"):
        use_example_set("no such set", session)


def test_uploads_are_decoded_in_one_place_in_the_sessions_world_or_the_runs(tmp_path, monkeypatch, tiny_models):
    """The upload box adds uploads read as the session's world; a run's uploads (the API) are read as
    its checkpoint draws and become its examples, run after run; a refused upload changes nothing."""
    import demo.runtime.session as session_module
    from demo.page.handlers import make_run

    real, calls = session_module.load_uploads, []
    monkeypatch.setattr(session_module, "load_uploads", lambda paths, domain: calls.append(domain) or real(paths, domain))
    files = [write(tmp_path, f"{i}.png", glyph_picture()) for i in range(2)]
    session = Session()
    ingest_uploads(files[:1], session)
    ingest_uploads(files[1:], session)
    assert len(session.shots) == 2 and calls == ["glyphs", "glyphs"]
    for _ in range(2):  # one API client's session, two runs: each run's examples are its uploads
        list(make_run(tiny_models)(files, 1, 0, samples=1, sampler_steps=1, session=session))
        assert len(session.shots) == 2
    assert calls == ["glyphs"] * 4  # every upload decoded once
    session.add_uploads(files[:1], "icons")
    assert session.domain == "icons" and [s.shape for s in session.shots] == [(3, 32, 32)]
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="is not an image"):
        session.add_uploads([str(bad)], "glyphs")
    assert session.domain == "icons" and len(session.shots) == 1  # refused: the session is as it was
    session.cleanup()


def test_bringing_your_own_examples_starts_your_own_set(tmp_path, monkeypatch):
    """On a built-in set (how a visit starts), uploads or a drawing replace it -- said in the caption and a
    notice -- and later ones join the visitor's set; the gallery shows every example in use."""
    notices = []
    monkeypatch.setattr(gr, "Info", notices.append)
    name = next(iter(example_sets()))
    session = Session()
    use_example_set(name, session)
    assert session.source == name and f"Built-in set “{name}”: 5 glyphs" in caption(session)
    files = [write(tmp_path, f"{i}.png", glyph_picture(size=(100 + 10 * i, 100))) for i in range(5)]
    ingest_uploads(files, session)
    assert len(session.shots) == 5 and session.source is None  # exactly the uploaded shots
    np.testing.assert_array_equal(np.stack(session.shots), np.stack(load_uploads(files)))
    assert notices == [f"Started your own set: the built-in set “{name}” was put aside."]
    add_drawing(sketch(), session)  # a later drawing joins the visitor's own set, without a notice
    assert len(session.shots) == 6 and len(notices) == 1
    gallery, text = show_shots(session)
    assert len(gallery["value"]) == 6 and "Your own set: 6 glyphs" in text
    use_example_set(name, session)  # back to a built-in set: a drawing starts a fresh set again
    add_drawing(sketch(), session)
    assert len(session.shots) == 1 and len(notices) == 2
