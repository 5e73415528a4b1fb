"""A screenshot of a written report, for the README (docs/report-overview.png):

    python -m reports.screenshot [SITE_DIR] [PNG]      # defaults: .lakegate/report docs/report-overview.png

Headless Chromium from PATH (Debian's `chromium`, `chromium-browser` or `google-chrome`), driven by Playwright,
which never downloads a browser here; the same flags as tests/test_report_browser.py (no background network).
The picture is the top of the page, overview and promotion path, at 1440x900.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def screenshot(index: Path, png: Path, width: int = 1440, height: int = 900) -> Path:
    """`index` (a report's index.html) rendered and saved as `png`; RuntimeError when there is no browser."""
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        raise RuntimeError(f"no browser on PATH (one of {', '.join(BROWSERS)}): `make browser` installs Debian's chromium")
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lakegate-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, headless=True, args=FLAGS, viewport={"width": width, "height": height},
            service_workers="block")
        try:
            page = context.new_page()
            page.goto(index.resolve().as_uri())
            page.wait_for_selector("html[data-report-ready]")
            page.screenshot(path=str(png))
        finally:
            context.close()
    return png


def main(argv: list[str]) -> int:
    site = Path(argv[0]) if argv else Path(".lakegate/report")
    png = Path(argv[1]) if len(argv) > 1 else Path("docs/report-overview.png")
    index = site / "index.html"
    if not index.is_file():
        print(f"error: {index} does not exist: run `python main.py report site --out {site}` first", file=sys.stderr)
        return 6
    try:
        print(f"wrote {screenshot(index, png)}")
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
