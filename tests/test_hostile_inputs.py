"""A corpus of hostile inputs through the `/adapt` API, generated here (no binaries committed).

Each is answered with its own message, and the app serves a normal run right after it.
"""
import io
import math
import struct
import zlib

import gradio as gr
import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

from demo.page.inputs import add_drawing
from demo.runtime.session import Session

pytestmark = pytest.mark.slow


def glyph(size=(100, 100), mode="RGB"):
    im = Image.new("RGB", size, "white")
    ImageDraw.Draw(im).line([(10, 10), (size[0] - 10, size[1] - 10), (10, size[1] - 10)], fill="black", width=6)
    return im.convert(mode)


def encoded(im, fmt, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def png_bomb(side=100_000) -> bytes:
    """A valid PNG header declaring side x side pixels (10 gigapixels), with a few bytes of data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")


def animated_gif() -> bytes:
    frames = [glyph(), glyph().rotate(90)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><path d="M8 8 L56 56"/></svg>'
REFUSED = {  # file name -> (bytes, the message it must get)
    "notes.png": (lambda: b"this is a shopping list, not a picture", "notes.png is not an image"),
    "truncated.png": (lambda: encoded(glyph(), "PNG")[:300], "truncated.png looks damaged"),
    "truncated.jpg": (lambda: encoded(glyph(), "JPEG", quality=90)[:600], "truncated.jpg looks damaged"),
    "bomb.png": (png_bomb, "bomb.png is too large"),
    "dot.png": (lambda: encoded(Image.new("L", (1, 1), 0), "PNG"), r"dot.png is too small \(1x1 pixels\)"),
    "strip.png": (lambda: encoded(glyph((20000, 20)), "PNG"), r"strip.png is 20000x20 pixels, too elongated"),
    "clear.png": (lambda: encoded(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "PNG"), "clear.png holds no drawing"),
    "white.png": (lambda: encoded(Image.new("RGB", (64, 64), "white"), "PNG"), "white.png holds no drawing"),
    "black.jpg": (lambda: encoded(Image.new("RGB", (64, 64), "black"), "JPEG"), "black.jpg holds no drawing"),
    "vector.svg": (lambda: SVG, "vector.svg is an SVG"),
}
ACCEPTED = {  # odd but valid: each becomes a shot and the run completes
    "animated.gif": animated_gif,
    "cmyk.jpg": lambda: encoded(glyph(mode="CMYK"), "JPEG", quality=90),
    "sixteen.png": lambda: encoded(Image.fromarray(np.asarray(glyph(mode="L"), dtype=np.uint16) * 257), "PNG"),
}
BAD_SETTINGS = {  # settings through the API -> message (Gradio's bounds checks come first for sliders)
    "negative steps": ({"inner_steps": -5}, "Value -5 is less than minimum value 1"),
    "a million steps": ({"inner_steps": 10**6}, "Value 1000000 is greater than maximum value 100"),
    "fractional steps": ({"inner_steps": 2.5}, "Inner steps must be a whole number from 1 to 100, got 2.5"),
    "no samples": ({"samples": 0}, "Value 0 is less than minimum value 1"),
    "huge seed": ({"seed": 1e30}, "Seed must be a whole number from 0 to 4294967295"),
    "zero learning rate": ({"inner_lr": 0}, "inner_lr must be a positive finite number"),
    "unknown checkpoint": ({"checkpoint": "../../etc/passwd"}, "not in the list of choices"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    for name, (make, _) in REFUSED.items():
        (folder / name).write_bytes(make())
    for name, make in ACCEPTED.items():
        (folder / name).write_bytes(make())
    glyph().save(folder / "good.png")
    return folder


def submit(url, files, **settings):
    args = dict(images=[handle_file(str(f)) for f in files], inner_steps=1, seed=0, samples=2, sampler_steps=2)
    return Client(url, download_files=False, verbose=False).submit(**{**args, **settings}, api_name="/adapt")


def assert_serves_a_normal_run(url, folder):
    job = submit(url, [folder / "good.png"])
    job.result(timeout=60)
    assert "done" in job.outputs()[-1][3]


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_hostile_file_gets_its_message_and_the_next_run_works(app_url, folder, name):
    with pytest.raises(Exception, match=REFUSED[name][1]):
        submit(app_url, [folder / name]).result(timeout=60)
    assert_serves_a_normal_run(app_url, folder)


def test_odd_but_valid_images_are_accepted(app_url, folder):
    job = submit(app_url, [folder / name for name in ACCEPTED])
    job.result(timeout=60)
    assert "done" in job.outputs()[-1][3]


@pytest.mark.parametrize("case", list(BAD_SETTINGS))
def test_absurd_settings_get_a_specific_message(app_url, folder, case):
    settings, message = BAD_SETTINGS[case]
    with pytest.raises(Exception, match=message):
        submit(app_url, [folder / "good.png"], **settings).result(timeout=60)
    assert_serves_a_normal_run(app_url, folder)


def test_nan_is_refused_by_the_client_and_by_the_handler(app_url, folder, tiny_models):
    with pytest.raises(ValueError, match="not JSON compliant"):  # JSON has no NaN: it never reaches the app
        submit(app_url, [folder / "good.png"], inner_lr=math.nan).result(timeout=60)
    from demo.page.handlers import make_run

    session = Session()
    session.shots = [np.zeros((32, 32), np.float32)]
    for kw, message in [({"inner_lr": math.nan}, "inner_lr must be a positive finite number"),
                        ({"samples": math.nan}, "Samples per grid must be a whole number"),
                        ({"seed": -1}, "Seed must be a whole number")]:
        with pytest.raises(gr.Error, match=message):
            list(make_run(tiny_models)(None, 2, kw.pop("seed", 0), session=session, **kw))


def test_zero_files_and_eleven_files(app_url, folder):
    with pytest.raises(Exception, match="Add 1-10 example images first"):
        submit(app_url, []).result(timeout=60)
    with pytest.raises(Exception, match="Too many images: got 11, the limit is 10"):
        submit(app_url, [folder / "good.png"] * 11).result(timeout=60)
    assert_serves_a_normal_run(app_url, folder)


def test_a_file_over_the_size_limit_is_refused_before_and_at_upload(app_url, folder):
    big = folder / "big.png"
    big.write_bytes(encoded(glyph(), "PNG") + b"\0" * (11 * 2**20))  # 11 MB, over launch(max_file_size="10mb")
    with pytest.raises(ValueError, match="exceeds the maximum file size"):  # the client checks first...
        submit(app_url, [big]).result(timeout=60)
    with open(big, "rb") as f:  # ...and the server refuses a client that does not
        response = httpx.post(f"{app_url}/gradio_api/upload", files={"files": ("big.png", f)}, timeout=60)
    assert response.status_code == 413
    assert_serves_a_normal_run(app_url, folder)


def test_an_empty_sketch_is_refused():
    blank = np.zeros((280, 280, 4), np.uint8)  # a transparent pad: nothing drawn
    with pytest.raises(gr.Error, match="The drawing is empty"):
        add_drawing({"background": None, "layers": [blank], "composite": blank}, Session())
