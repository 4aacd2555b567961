"""The README's screenshot: the studio after a whole run on a built-in example set.

    python -m demo.tools.screenshot [--assets assets] [--out assets/screenshot.png] [--steps 10] [--domain icons]

Starts app.py in a child process (demo.tools.server), opens it in the system Chromium (Playwright, as in
tests/test_browser.py), switches to `--domain` (e.g. colour icons; the first world shipped if not
given), runs `--steps` inner steps on the example set shown, waits for the last step and saves a
full-page PNG.
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
    args = p.parse_args(argv)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("no system Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with serve(args.assets, threads=1) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.goto(server.url)
        page.locator("#shots img").first.wait_for()  # the first example set is there on arrival
        if args.domain:
            if page.locator("#experimental").count() and not page.locator("#domain").is_visible():
                page.locator("#experimental input[type=checkbox]").check()  # an experimental world: ask for it
            page.locator("#domain").get_by_text(DOMAINS[args.domain].label).click()
            page.wait_for_function(f"document.querySelector('#status').innerText.includes({DOMAINS[args.domain].label.lower()!r})",
                                   timeout=60_000)
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


if __name__ == "__main__":
    main()
