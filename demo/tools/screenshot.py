"""The README's screenshots: the studio after a whole run on a built-in example set, or its outer-loop view.

    python -m demo.tools.screenshot [--assets assets] [--out assets/screenshot.png] [--steps 10] [--domain icons]
        [--size 1024x768] [--view run|outer]

Starts app.py in a child process (demo.tools.server), opens it in the system Chromium (Playwright, as in
tests/test_browser.py), switches to `--domain` (e.g. colour icons; the first world shipped if not
given), runs `--steps` inner steps on the example set shown, waits for the last step and saves a
full-page PNG. With `--view outer` it instead replays meta-training on that set (the outer-loop view,
`--steps` inner steps from every snapshot) and saves the viewport scrolled to that view.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from demo.runtime.domains import DOMAINS

from .server import ROOT, serve

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]


def main(argv=None) -> Path:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--assets", default=str(ROOT / "assets"))
    p.add_argument("--out", default=str(ROOT / "assets" / "screenshot.png"))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--domain", choices=list(DOMAINS), default=None, help="switch the studio to this world first")
    p.add_argument("--size", default="1400x1100", help="the browser window, WIDTHxHEIGHT")
    p.add_argument("--view", choices=("run", "outer"), default="run")
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("no system Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with serve(args.assets, threads=1) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(server.url)
        page.locator("#shots img").first.wait_for()  # the first example set is there on arrival
        if args.domain:
            if page.locator("#experimental").count() and not page.locator("#domain").is_visible():
                page.locator("#experimental input[type=checkbox]").check()  # an experimental world: ask for it
            page.locator("#domain").get_by_text(DOMAINS[args.domain].label).click()
            page.wait_for_function(f"document.querySelector('#status').innerText.includes({DOMAINS[args.domain].label.lower()!r})",
                                   timeout=60_000)
        if args.view == "outer":
            outer(page, args.steps, args.out)
            browser.close()
            print(f"wrote {args.out}")
            return Path(args.out)
        box = page.locator("#inner-steps input[type=number]")
        box.fill(str(args.steps))
        box.press("Enter")
        page.click("#run-btn")
        page.wait_for_function(f"document.querySelector('#status').innerText.includes('Step {args.steps} of {args.steps}')",
                               timeout=300_000)
        page.locator("#before-after img").wait_for(timeout=60_000)
        page.wait_for_timeout(1500)  # let the last images paint
        page.screenshot(path=args.out, full_page=True)
        browser.close()
    print(f"wrote {args.out}")
    return Path(args.out)


def outer(page, steps: int, out: str) -> None:
    """Replay meta-training on the examples shown and save the outer-loop view as the visitor sees it."""
    box = page.locator("#outer-steps input[type=number]")
    box.scroll_into_view_if_needed()
    box.fill(str(steps))
    box.press("Enter")
    page.click("#outer-btn")
    page.wait_for_function(f"document.querySelector('#outer-status').innerText.includes('Step {steps} of {steps} (done')",
                           timeout=600_000)
    page.wait_for_timeout(1500)
    page.locator("#outer-status").scroll_into_view_if_needed()
    page.evaluate("document.querySelector('#outer-status').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(500)
    page.screenshot(path=out)


if __name__ == "__main__":
    main()
