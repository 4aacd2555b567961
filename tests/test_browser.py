"""A teacher in a real browser (headless Chromium, real clicks, strokes and uploads): bring examples by
upload and by drawing, reset, run, watch at 1024x768 and in the presenter view, stop, download.

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
SHOTS = "document.querySelectorAll('#shots img').length"
STATUS = "document.querySelector('#status').innerText"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("no system Chromium (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser, app_url):
    """open_page(width, height) -> a fresh visit, its first example set shown; page errors are collected
    and must be none at the end."""
    pages = []

    def open_(width=1400, height=1000, **kw):
        page = browser.new_page(viewport={"width": width, "height": height}, **kw)
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.goto(app_url)
        page.wait_for_selector("#run-btn")
        page.locator("#shots img").first.wait_for()  # the first example set is there on arrival
        pages.append(page)
        return page

    yield open_
    for page in pages:
        assert not page.errors, page.errors
        page.close()


def pictures(folder, n=5):
    files = []
    for i in range(n):
        im = Image.new("RGB", (120, 120), "white")
        ImageDraw.Draw(im).line([(25, 25), (95, 60 + 5 * i), (30, 95)], fill="black", width=9)
        files.append(str(folder / f"glyph-{i}.png"))
        im.save(files[-1])
    return files


def red_badges(page) -> int:
    """Components marked with Gradio's red "Error" badge (not the notices, whose title is "Error" too)."""
    return page.evaluate("""() => [...document.querySelectorAll('span.error')]
        .filter(e => e.offsetParent !== null && !e.closest('.toast-wrap')).length""")


def draw_stroke(page, start, step, n):
    """Drag one stroke on the pad (the Draw tab open, the brush picked): from `start`, in `n` moves of
    `step`, in fractions of the square drawing area in the middle of the pad."""
    canvas = page.locator("#sketch canvas").last
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()  # a stroke off screen draws nothing
    box = canvas.bounding_box()
    side = min(box["width"], box["height"])
    x0, y0 = box["x"] + (box["width"] - side) / 2, box["y"] + (box["height"] - side) / 2
    at = lambda k: (x0 + side * (start[0] + step[0] * k), y0 + side * (start[1] + step[1] * k))
    page.mouse.move(*at(0))
    page.mouse.down()
    for k in range(1, n + 1):
        page.mouse.move(*at(k), steps=2)
    page.mouse.up()


def open_pad(page):
    page.get_by_role("tab", name="Draw").click()
    page.wait_for_function("!document.querySelector('#sketch').innerText.includes('select the draw tool')")  # brush on


def set_steps(page, steps):
    box = page.locator("#inner-steps input[type=number]")
    box.fill(str(steps))
    box.press("Enter")


def test_three_drawings_in_a_row_give_three_shots(open_page):
    page = open_page(1024, 768)
    open_pad(page)
    for n in (1, 2, 3):  # at a person's pace: a stroke, a moment, Add, a moment, the next stroke
        draw_stroke(page, (0.2 + 0.1 * n, 0.2), (0.04, 0.06), 10)
        page.wait_for_timeout(300)
        page.click("#add-drawing-btn")
        page.wait_for_function(f"{SHOTS} === {n}")
        page.wait_for_timeout(300)
        assert "Your own set" in page.locator("#shots-caption").inner_text()
    page.wait_for_timeout(500)
    assert page.locator("#shots img").count() == 3 and "3 glyphs" in page.locator("#shots-caption").inner_text()
    assert red_badges(page) == 0
    # an empty pad is refused with a message, and nothing turns red
    page.click("#add-drawing-btn")
    page.get_by_text("The drawing is empty").first.wait_for()
    assert page.locator("#shots img").count() == 3 and red_badges(page) == 0


def test_an_upload_after_load_gives_exactly_the_uploaded_shots(open_page, tmp_path):
    page = open_page(1024, 768)
    assert "Built-in set" in page.locator("#shots-caption").inner_text()
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload input[type=file]").set_input_files(pictures(tmp_path, 5))
    page.wait_for_function("document.querySelector('#shots-caption').innerText.includes('Your own set')")
    assert page.locator("#shots img").count() == 5 and "5 glyphs" in page.locator("#shots-caption").inner_text()
    page.get_by_text("Started your own set").first.wait_for()  # and a notice says the built-in set was put aside
    for img in page.locator("#shots img").all():  # every shot in use is in view, none hidden in a scroll box
        assert img.is_visible() and img.bounding_box()["height"] > 20
    assert red_badges(page) == 0


def test_reset_then_run_and_a_run_without_examples(open_page):
    page = open_page(1024, 768)
    page.click("#clear-btn")
    page.wait_for_function(f"{SHOTS} === 0")
    page.click("#run-btn")  # nothing to learn from: one clear message, no red badges
    page.get_by_text("Add 1-10 example images first").first.wait_for()
    assert page.locator(".toast-item").count() == 1 and red_badges(page) == 0
    page.wait_for_timeout(1000)
    assert red_badges(page) == 0 and page.locator("#meta-grid img").count() == 0  # and no run started
    page.click("#reset-btn")  # the page as after loading: the first built-in set, ready to run
    page.wait_for_function(f"{SHOTS} === 5")
    assert "Built-in set" in page.locator("#shots-caption").inner_text() and "Reset" in page.locator("#status").inner_text()
    set_steps(page, 2)
    page.click("#run-btn")
    page.wait_for_function(f"{STATUS}.includes('Step 2 of 2 · done')", timeout=60_000)
    assert red_badges(page) == 0


def test_at_1024x768_after_run_both_grids_are_in_view_and_downloads_wait_for_the_run(open_page):
    page = open_page(1024, 768, accept_downloads=True)
    for button in ("#filmstrip", "#generator-zip"):
        assert page.locator(button).is_disabled()  # nothing to download before a run
    set_steps(page, 3)
    page.click("#run-btn")
    page.wait_for_function(f"{STATUS}.includes('Step 1 of 3')", timeout=60_000)
    page.wait_for_timeout(800)  # the page scrolls the grids into view
    for grid in ("#meta-grid img", "#baseline-grid img"):
        box = page.locator(grid).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 768 and box["height"] >= 150, (grid, box)
    page.wait_for_function(f"{STATUS}.includes('Step 3 of 3 · done')", timeout=60_000)
    assert "look like your examples" in page.locator("#status").inner_text()
    page.locator("#likeness-chart canvas, #likeness-chart svg").first.wait_for()
    page.wait_for_function("!document.querySelector('#generator-zip').disabled")
    with page.expect_download() as download:
        page.click("#generator-zip")
    assert download.value.suggested_filename == "adapted-generator.zip"
    small = page.locator("#meta-grid img").bounding_box()["height"]
    page.click("#presenter-btn")  # bigger grids, fewer controls, one click away
    page.wait_for_timeout(500)
    assert not page.locator("#examples-col").is_visible() and not page.locator("#details").is_visible()
    for grid in ("#meta-grid img", "#baseline-grid img"):
        box = page.locator(grid).bounding_box()
        assert box["height"] > 1.3 * small and box["y"] >= 0 and box["y"] + box["height"] <= 768, (grid, box)
    page.click("#presenter-btn")
    page.locator("#examples-col").wait_for()
    # Reset after a drawn chart: no script error (collected by open_page), the grids empty, then a new run draws again
    page.click("#reset-btn")
    page.wait_for_function(f"{STATUS}.includes('Reset')")
    page.wait_for_timeout(1000)
    assert page.locator("#meta-grid img").count() == 0 and red_badges(page) == 0
    set_steps(page, 2)
    page.click("#run-btn")
    page.wait_for_function(f"{STATUS}.includes('Step 2 of 2 · done')", timeout=60_000)
    page.locator("#likeness-chart canvas, #likeness-chart svg").first.wait_for()


def test_upload_draw_run_watch_stop(open_page, tmp_path):
    page = open_page(1400, 1100, accept_downloads=True)
    # 1. upload three pictures (they start a set of your own), then draw a fourth
    page.get_by_role("tab", name="Upload").click()
    page.locator("#upload input[type=file]").set_input_files(pictures(tmp_path, 3))
    page.wait_for_function(f"{SHOTS} === 3")
    open_pad(page)
    draw_stroke(page, (0.25, 0.25), (0.05, 0.04), 10)
    page.wait_for_timeout(300)
    page.click("#add-drawing-btn")
    page.wait_for_function(f"{SHOTS} === 4")

    # 2. run: the grid appears, then changes as the generator adapts
    set_steps(page, 100)
    page.click("#run-btn")
    grid = page.locator("#meta-grid img")
    grid.wait_for(timeout=60_000)
    first = grid.get_attribute("src")
    page.wait_for_function("src => { const i = document.querySelector('#meta-grid img'); return i && i.src !== src; }",
                           arg=first, timeout=60_000)
    page.wait_for_function(f"{STATUS}.includes('Step 3 of 100')", timeout=60_000)

    # 3. stop: the run ends, keeps its last frame and offers the before/after and downloads
    page.click("#stop-btn")
    page.wait_for_function(f"{STATUS}.includes('stopped')", timeout=30_000)
    page.locator("#before-after img").wait_for(timeout=30_000)
    assert page.locator("#meta-grid img").count() == 1 and page.locator("#baseline-grid img").count() == 1
    with page.expect_download() as download:
        page.click("#generator-zip")
    assert download.value.suggested_filename == "adapted-generator.zip"
    assert red_badges(page) == 0
    out = Path(os.environ.get("INNER_LOOP_SCREENSHOT") or tmp_path / "studio.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(out), full_page=True)
    assert out.stat().st_size > 10_000


def test_switch_to_colour_icons_draw_in_colour_and_run(open_page, tmp_path):
    page = open_page(1400, 1100)
    assert not page.locator("#data-credit").is_visible()  # glyphs owe no data credit
    assert not page.locator("#domain").is_visible()  # the colour icons are experimental: offered only when asked for
    page.locator("#experimental input[type=checkbox]").check()
    page.locator("#domain").get_by_text("Colour icons").click()
    page.wait_for_function(f"{STATUS}.includes('colour icons')", timeout=30_000)
    assert page.locator("#example-set input").input_value() == "Balloons"
    page.wait_for_function(f"{SHOTS} === 5")
    # a colour stroke on the pad starts a set of your own: one (colour) example
    open_pad(page)
    draw_stroke(page, (0.3, 0.5), (0.05, 0.0), 8)
    page.wait_for_timeout(300)
    page.click("#add-drawing-btn")
    page.wait_for_function("document.querySelector('#shots-caption').innerText.includes('Your own set: 1 icon')")
    set_steps(page, 2)
    page.click("#run-btn")
    page.wait_for_function(f"{STATUS}.includes('Step 2 of 2 · done')", timeout=60_000)
    page.locator("#before-after img").wait_for(timeout=30_000)
    assert "Noto Color Emoji" in page.locator("#data-credit").inner_text()
    page.screenshot(path=str(tmp_path / "studio-icons.png"), full_page=True)


def test_unticking_experimental_goes_back_to_the_glyphs(open_page):
    page = open_page(1024, 768)
    page.locator("#experimental input[type=checkbox]").check()
    page.locator("#domain").get_by_text("Colour icons").click()
    page.wait_for_function(f"{STATUS}.includes('colour icons')", timeout=30_000)
    page.locator("#experimental input[type=checkbox]").uncheck()
    page.wait_for_function(f"{STATUS}.includes('handwritten glyphs')", timeout=30_000)
    assert not page.locator("#domain").is_visible() and page.locator("#example-set input").input_value() == "Knot"
    page.wait_for_function(f"{SHOTS} === 5")
