"""In a real browser (headless Chromium): a stored run plays on arrival, a shared link opens its state (and a
bad one only earns a note), and the Outer-loop view fills a row per snapshot, rows that differ."""
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from demo.runtime.outer_grid import HEAD_H, LABEL_W, PAD
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


@pytest.fixture
def pages(browser):
    """Open pages as a 1024 x 768 visitor would; each is closed after the test (an open Gradio page keeps working)."""
    opened = []

    def open_page(url, errors):
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        opened.append(page)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url, timeout=90_000)
        page.wait_for_selector("#run-btn", timeout=90_000)
        return page

    yield open_page
    for page in opened:
        page.close()


def link(page) -> str:
    return page.locator("#share-link textarea, #share-link input").first.input_value()


def test_a_stored_run_plays_on_arrival_and_the_link_follows_the_state(pages, outer_app_url):
    errors = []
    page = pages(outer_app_url, errors)
    page.locator("#meta-grid img").wait_for(timeout=60_000)  # before anyone pressed Run
    first = page.locator("#meta-grid img").get_attribute("src")
    page.wait_for_function("document.querySelector('#status').innerText.includes('Step 20 of 20 · done')", timeout=60_000)
    assert "pre-computed run of the example set Knot" in page.locator("#status").inner_text()
    assert page.locator("#meta-grid img").get_attribute("src") != first and page.locator("#baseline-grid img").count() == 1
    assert link(page).endswith("/?set=Knot&checkpoint=glyphs-cavia&steps=20&seed=0")
    page.locator("#example-set input").click()  # another set: the link follows (nothing is stored for it, so nothing plays)
    page.get_by_role("option", name="Star").click()
    page.wait_for_function("document.querySelector('#share-link textarea, #share-link input').value.includes('set=Star')")
    assert not page.locator("#link-note").is_visible() and not errors, errors


def test_a_shared_link_opens_with_its_set_steps_and_seed(pages, outer_app_url):
    errors = []
    page = pages(outer_app_url + "/?set=Star&steps=7&seed=5&checkpoint=glyphs-cavia", errors)
    page.wait_for_function("document.querySelector('#share-link textarea, #share-link input').value.includes('set=Star')",
                           timeout=30_000)
    assert link(page).endswith("?set=Star&checkpoint=glyphs-cavia&steps=7&seed=5")
    assert page.locator("#example-set input").input_value() == "Star"
    assert page.locator("#inner-steps input[type=number]").input_value() == "7"
    page.wait_for_function("document.querySelectorAll('#shots img').length === 5")
    # a link with bad parts: a note, the defaults for those parts, never an error page
    bad = pages(outer_app_url + "/?set=%3Cb%3ENope%3C/b%3E&steps=500&seed=5", errors)
    bad.locator("#link-note").wait_for(timeout=30_000)
    note = bad.locator("#link-note").inner_text()
    assert "example set 'bNope/b'" in note and "Inner steps must be a whole number from 1 to 100" in note
    assert bad.locator("#example-set input").input_value() == "Knot" and link(bad).endswith("steps=20&seed=5")
    assert not errors, errors


def test_the_outer_loop_view_shows_snapshot_rows_that_differ(pages, outer_app_url, tmp_path):
    errors = []
    page = pages(outer_app_url, errors)
    page.locator("#shots img").first.wait_for()
    assert page.locator("#outer-curve img").count() == 1  # the checkpoint's curve, beside the grid
    page.locator("#outer-btn").scroll_into_view_if_needed()
    page.click("#outer-btn")
    page.wait_for_function("document.querySelector('#outer-status').innerText.includes('Step 5 of 5 (done')",
                           timeout=180_000)
    src = page.locator("#outer-grid img").get_attribute("src")
    grid = Image.open(io.BytesIO(page.request.get(src).body()))
    n = 5
    cell = (grid.width - LABEL_W - PAD) // 6 - PAD
    row_h = (grid.height - HEAD_H - PAD) // n - PAD
    rows = [np.asarray(grid.crop((LABEL_W + PAD, HEAD_H + r * (row_h + PAD) + PAD, LABEL_W + PAD + 6 * (cell + PAD),
                                  HEAD_H + r * (row_h + PAD) + PAD + row_h))) for r in range(n)]
    assert len(rows) >= 4 and all(row.std() > 0 for row in rows)
    assert all(not np.array_equal(rows[a], rows[b]) for a in range(n) for b in range(a + 1, n))
    page.locator("#outer-grid").scroll_into_view_if_needed()
    out = Path(os.environ.get("INNER_LOOP_OUTER_SCREENSHOT") or tmp_path / "outer-loop.png")
    page.screenshot(path=str(out))
    assert out.stat().st_size > 10_000 and not errors, errors
