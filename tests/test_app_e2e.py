"""End to end over HTTP: the app on 127.0.0.1 and gradio_client, as a script would use the `/adapt` API."""
import time

import pytest
from gradio_client import Client, handle_file
from PIL import Image, ImageDraw

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    paths = []
    for i in range(3):
        im = Image.new("RGB", (100, 100), "white")
        ImageDraw.Draw(im).line([(20, 20 + 5 * i), (80, 80), (20, 80)], fill="black", width=8)
        im.save(folder / f"glyph-{i}.png")
        paths.append(str(folder / f"glyph-{i}.png"))
    (folder / "notes.png").write_text("this is not a picture")
    return paths, str(folder / "notes.png")


def client(url):
    return Client(url, download_files=False, verbose=False)


def adapt(c, images, steps, **kw):
    args = dict(images=[handle_file(p) for p in images], inner_steps=steps, seed=0, samples=4, sampler_steps=2)
    return c.submit(**{**args, **kw}, api_name="/adapt")


def test_api_is_documented_with_named_parameters(app_url):
    params = [p["parameter_name"] for p in client(app_url).view_api(print_info=False, return_format="dict")
              ["named_endpoints"]["/adapt"]["parameters"]]
    assert params[:3] == ["images", "inner_steps", "seed"]


def test_streams_one_update_per_step_then_the_final_outputs(app_url, pictures):
    job = adapt(client(app_url), pictures[0], 3)
    job.result(timeout=120)
    outputs = job.outputs()
    assert len(outputs) == 3 + 1 + 1  # step 0, 1, 2, 3, then before/after and downloads
    statuses = [o[3] for o in outputs]
    assert [s.split("**")[1] for s in statuses[:4]] == [f"Step {k} of 3" for k in range(4)]
    final = outputs[-1]
    assert "done" in final[3] and final[0] and final[1] and final[4]  # grids and before/after are images
    assert ".gif" in str(final[6]) and ".zip" in str(final[7])  # the filmstrip and the adapted generator


def test_a_bad_upload_is_answered_with_its_message(app_url, pictures):
    with pytest.raises(Exception, match="notes.png is not an image"):
        adapt(client(app_url), [pictures[1]], 2).result(timeout=60)


def test_two_sessions_do_not_see_each_other(app_url, pictures):
    a, b = client(app_url), client(app_url)
    adapt(a, pictures[0][:2], 1).result(timeout=60)
    again = adapt(a, [], 1)  # a's examples stay in a's session...
    again.result(timeout=60)
    assert "done" in again.outputs()[-1][3]
    with pytest.raises(Exception, match="Add 1-10 example images"):  # ...and b never sees them
        adapt(b, [], 1).result(timeout=60)


def test_stop_ends_the_run_soon_and_keeps_the_last_frame(app_url, pictures):
    c = client(app_url)
    job = adapt(c, pictures[0], 100)
    deadline = time.monotonic() + 60
    while len(job.outputs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    asked = time.monotonic()
    c.predict(api_name="/stop")
    job.result(timeout=30)
    took = time.monotonic() - asked
    final = job.outputs()[-1]
    assert "stopped" in final[3] and final[0] and final[6]
    assert took < 5, f"the run went on for {took:.1f} s after Stop"


def test_an_icon_run_over_the_api_and_a_wrong_domain_checkpoint(app_url, tmp_path):
    from meta.icons import draw

    paths = []
    for m in range(2):
        paths.append(str(tmp_path / f"fish-{m}.png"))
        draw("Fish", m).save(paths[-1])
    c = client(app_url)
    job = adapt(c, paths, 1, checkpoint="emoji-autodecoder")  # uploads are read in colour for a colour checkpoint
    job.result(timeout=120)
    final = job.outputs()[-1]
    assert "done" in final[3] and final[0] and final[4] and ".zip" in str(final[7])
    with pytest.raises(Exception, match="glyphs-cavia draws handwritten glyphs, but your 2 examples are colour icons"):
        adapt(c, [], 1, checkpoint="glyphs-cavia").result(timeout=60)  # this session's examples are icons now
