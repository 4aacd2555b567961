"""A person in a real browser (headless Chromium): upload, draw, run, watch the grid change, stop.

Uses the system Chromium (`apt-get install chromium`, `pip install playwright`; never `playwright
install`). Saves a screenshot to $INNER_LOOP_SCREENSHOT (e.g. assets/screenshot.png) or tmp.
"""
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

pytestmark = [pytest.mark.slow, pytest.mark.browser]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("no system Chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def draw_stroke(page, start, step, n):
    """Open the Draw tab (the page picks the brush) and drag one stroke: from `start` (fractions of the
    pad) in `n` moves of `step`."""
    page.get_by_role("tab", name="Draw").click()
    page.wait_for_function("!document.querySelector('#sketch').innerText.includes('select the draw tool')")  # brush on
    canvas = page.locator("#sketch canvas").last
    canvas.wait_for()
    box = canvas.bounding_box()
    at = lambda k: (box["x"] + box["width"] * (start[0] + step[0] * k), box["y"] + box["height"] * (start[1] + step[1] * k))
    page.mouse.move(*at(0))
    page.mouse.down()
    for k in range(1, n + 1):
        page.mouse.move(*at(k), steps=2)
    page.mouse.up()


def test_upload_draw_run_watch_stop(browser, app_url, tmp_path):
    files = []
    for i in range(3):
        im = Image.new("RGB", (120, 120), "white")
        ImageDraw.Draw(im).line([(25, 25), (95, 60 + 5 * i), (30, 95)], fill="black", width=9)
        files.append(str(tmp_path / f"glyph-{i}.png"))
        im.save(files[-1])
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, accept_downloads=True)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)
    page.wait_for_selector("#run-btn")
    shots = page.locator("#shots img")
    shots.first.wait_for()  # the first example set is there on arrival
    page.click("#clear-btn")
    page.wait_for_function("document.querySelectorAll('#shots img').length === 0")

    # 1. upload three pictures, then draw a fourth
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload input[type=file]").set_input_files(files)
    page.wait_for_function("document.querySelectorAll('#shots img').length === 3")
    draw_stroke(page, (0.25, 0.25), (0.05, 0.04), 10)
    page.click("#add-drawing-btn")
    page.wait_for_function("document.querySelectorAll('#shots img').length === 4")

    # 2. run: the grid appears, then changes as the generator adapts
    page.locator("#inner-steps input[type=number]").fill("100")
    page.locator("#inner-steps input[type=number]").press("Enter")
    page.click("#run-btn")
    grid = page.locator("#meta-grid img")
    grid.wait_for(timeout=60_000)
    first = grid.get_attribute("src")
    page.wait_for_function("src => { const i = document.querySelector('#meta-grid img'); return i && i.src !== src; }",
                           arg=first, timeout=60_000)
    page.wait_for_function("document.querySelector('#status').innerText.includes('Step 3')", timeout=60_000)

    # 3. stop: the run ends, keeps its last frame and offers the before/after and downloads
    page.click("#stop-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('stopped')", timeout=30_000)
    page.locator("#before-after img").wait_for(timeout=30_000)
    assert page.locator("#meta-grid img").count() == 1 and page.locator("#baseline-grid img").count() == 1
    with page.expect_download() as download:
        page.click("#generator-zip")
    assert download.value.suggested_filename == "adapted-generator.zip"
    out = Path(os.environ.get("INNER_LOOP_SCREENSHOT") or tmp_path / "studio.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000
    assert not errors, errors


def test_switch_to_colour_icons_draw_in_colour_and_run(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)
    page.locator("#shots img").first.wait_for()
    assert not page.locator("#data-credit").is_visible()  # glyphs owe no data credit
    assert not page.locator("#domain").is_visible()  # the colour icons are experimental: offered only when asked for
    page.locator("#experimental input[type=checkbox]").check()
    page.locator("#domain").get_by_text("Colour icons").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('colour icons')", timeout=30_000)
    assert page.locator("#example-set input").input_value() == "Balloons"
    page.wait_for_function("document.querySelectorAll('#shots img').length === 5")
    # a colour stroke on the pad becomes a sixth (colour) example
    draw_stroke(page, (0.3, 0.5), (0.05, 0.0), 8)
    page.click("#add-drawing-btn")
    page.wait_for_function("document.querySelectorAll('#shots img').length === 6")
    page.locator("#inner-steps input[type=number]").fill("2")
    page.locator("#inner-steps input[type=number]").press("Enter")
    page.click("#run-btn")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Step 2 / 2 (done)')", timeout=60_000)
    page.locator("#before-after img").wait_for(timeout=30_000)
    assert "Noto Color Emoji" in page.locator("#data-credit").inner_text()
    page.screenshot(path=str(tmp_path / "studio-icons.png"), full_page=True)
    assert not errors, errors


def test_unticking_experimental_goes_back_to_the_glyphs(browser, app_url):
    page = browser.new_page(viewport={"width": 1024, "height": 768})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(app_url)
    page.locator("#shots img").first.wait_for()
    page.locator("#experimental input[type=checkbox]").check()
    page.locator("#domain").get_by_text("Colour icons").click()
    page.wait_for_function("document.querySelector('#status').innerText.includes('colour icons')", timeout=30_000)
    page.locator("#experimental input[type=checkbox]").uncheck()
    page.wait_for_function("document.querySelector('#status').innerText.includes('handwritten glyphs')", timeout=30_000)
    assert not page.locator("#domain").is_visible() and page.locator("#example-set input").input_value() == "Knot"
    page.wait_for_function("document.querySelectorAll('#shots img').length === 5")
    assert not errors, errors
