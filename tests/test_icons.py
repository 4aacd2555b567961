"""The colour world's data: procedural icon families (meta/icons.py) and colour uploads / drawings."""
import gradio as gr
import numpy as np
import pytest
from PIL import Image, ImageDraw

from demo.page.inputs import add_drawing, ingest_uploads
from demo.runtime.session import Session
from demo.runtime.shots import example_sets, load_uploads
from meta import icons
from meta.images import BACKGROUND


@pytest.fixture(scope="module")
def arrays():
    return icons.icon_arrays(shots=5)


def test_icon_sets_have_the_models_shape_and_range(arrays):
    assert len(icons.FAMILIES) >= 6
    assert arrays.shape == (len(icons.FAMILIES), 5, 3, 32, 32) and arrays.dtype == np.float32
    assert arrays.min() >= -1 and arrays.max() <= 1
    corners = arrays[..., [0, 0, -1, -1], [0, -1, 0, -1]]  # (F, S, 3, 4): the 1-px border is the white background
    assert np.allclose(corners, 1.0)
    ink = (np.abs(arrays - 1.0).max(2) > 0.1).mean((2, 3))  # share of each icon that is not background
    assert ink.min() > 0.15, ink.min()
    sets = icons.example_sets(shots=3)
    assert list(sets) == list(icons.FAMILIES) and all(len(v) == 3 for v in sets.values())
    im = sets["Balloons"][0]
    assert im.mode == "RGBA" and im.size == (icons.SIZE, icons.SIZE) and im.getpixel((0, 0))[3] == 0  # transparent
    assert np.array_equal(np.asarray(icons.draw("Fish", 3)), np.asarray(icons.draw("Fish", 3)))  # a member is a seed
    with pytest.raises(ValueError, match="unknown icon family"):
        icons.draw("Dragons", 0)


def test_families_differ_and_members_vary(arrays):
    x = arrays.reshape(*arrays.shape[:2], -1)  # (F, S, D)
    # every member differs from its family's first (shade, size, pose, details)...
    assert (np.abs(x[:, 1:] - x[:, :1]).mean(-1) > 0.02).all()
    # ...yet is nearer its own family's mean (leave-one-out) than any other family's
    F, S = x.shape[:2]
    for f in range(F):
        for s in range(S):
            means = np.stack([np.delete(x[g], s, 0).mean(0) if g == f else x[g].mean(0) for g in range(F)])
            assert ((x[f, s] - means) ** 2).sum(-1).argmin() == f, (list(icons.FAMILIES)[f], s)
    colours = arrays.mean((1, 3, 4))  # (F, 3): each family's palette
    gaps = np.linalg.norm(colours[:, None] - colours[None], axis=-1) + np.eye(F) * 9
    assert gaps.min() > 0.03
    assert example_sets("icons").keys() == icons.FAMILIES.keys()  # the studio's built-in colour sets


def red_ball(mode: str, size=(90, 70)) -> Image.Image:
    im = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse([15, 10, size[0] - 15, size[1] - 10], fill=(220, 30, 40, 255))
    if mode == "RGB":
        return Image.alpha_composite(Image.new("RGBA", size, (255, 255, 255, 255)), im).convert("RGB")
    if mode == "LA":
        return im.convert("LA")
    if mode == "P":
        return im.convert("P")  # RGBA -> P keeps the transparency as a palette entry
    return im


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "LA", "P"])
def test_uploads_become_colour_shots(tmp_path, mode):
    path = tmp_path / f"ball-{mode}.png"
    red_ball(mode).save(path)
    (shot,) = load_uploads([str(path)], "icons")
    assert shot.shape == (3, 32, 32) and shot.dtype == np.float32
    centre, corner = shot[:, 16, 16], shot[:, 0, 0]
    assert np.allclose(corner, np.asarray(BACKGROUND) / 127.5 - 1)  # transparency composited on white
    if mode == "LA":  # grey + alpha: a grey ball
        assert np.allclose(centre, centre[0]) and centre[0] < 0.5
    else:  # the colour is kept: red
        assert centre[0] > 0.5 and centre[1] < -0.5 and centre[2] < -0.5
    assert shot.max() <= 1 and shot.min() >= -1


def test_a_blank_icon_and_an_empty_colour_drawing_are_refused(tmp_path):
    session = Session()
    session.domain = "icons"
    for name, im in [("clear.png", Image.new("RGBA", (64, 64), (0, 0, 0, 0))), ("red.png", Image.new("RGB", (64, 64), "red"))]:
        im.save(tmp_path / name)
        with pytest.raises(gr.Error, match=f"{name} holds no icon"):  # the runtime's message, shown by the page
            ingest_uploads([str(tmp_path / name)], session)
    blank = np.zeros((280, 280, 4), np.uint8)
    with pytest.raises(gr.Error, match="draw an icon"):
        add_drawing({"composite": blank}, session)
    pad = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    ImageDraw.Draw(pad).line([(40, 140), (240, 140)], fill=(30, 136, 229, 255), width=20)  # a blue stroke
    add_drawing({"composite": np.asarray(pad)}, session)
    (shot,) = session.shots
    assert shot.shape == (3, 32, 32) and shot[2, 16, 16] > shot[0, 16, 16]  # blue, not ink
