"""README's pictures ("What it looks like"), cut from the gallery's screenshots.

``make screenshots`` runs tests/browser/test_browser_gallery.py (every main page at 375 and
1280 px, ja and en, into test-artifacts/screenshots/) and then this script, which takes a few
of them, keeps the top of each (a phone's first screen, a desktop's first 900 px) scaled down,
and writes them here as PNG, each under 150 KB. Chromium does the scaling (no image library).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[2]
GALLERY = ROOT / "test-artifacts" / "screenshots"
OUT = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
MAX_BYTES = 150_000
#: (picture, gallery folder, screenshot, shown width, shown height): phones at 3/4 of
#: 375 x 740, desktops at 5/8 of 1280 x 900.
PICTURES = [
    ("login-phone-ja.png", "test_gallery_375-ja_", "login", 281, 555),
    ("service-phone-ja.png", "test_gallery_375-ja_", "service-signed-in", 281, 555),
    ("two-factor-phone-en.png", "test_gallery_375-en_", "two-factor-enroll-sms", 281, 555),
    ("account-menu-desktop-en.png", "test_gallery_1280-en_", "account-menu", 800, 450),
    ("admin-users-desktop-ja.png", "test_gallery_1280-ja_", "admin-users", 800, 450),
]


def source(folder: str, what: str) -> Path:
    found = sorted((GALLERY / folder).glob(f"[0-9][0-9]-{what}.png"))
    if not found:
        raise SystemExit(f"no {what} in {GALLERY / folder}: run the gallery test first")
    return found[0]


def main() -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page()
        for name, folder, what, width, height in PICTURES:
            data = base64.b64encode(source(folder, what).read_bytes()).decode()
            page.set_viewport_size({"width": width, "height": height})
            page.set_content(
                '<body style="margin:0"><img style="display:block;width:100%" '
                f'src="data:image/png;base64,{data}"></body>'
            )
            page.wait_for_load_state("load")
            path = OUT / name
            page.screenshot(path=str(path), clip={"x": 0, "y": 0, "width": width, "height": height})
            size = path.stat().st_size
            print(f"{path.relative_to(ROOT)}: {size // 1000} KB")
            if size > MAX_BYTES:
                sys.exit(f"{name} is {size} bytes, more than {MAX_BYTES}")
        browser.close()


if __name__ == "__main__":
    main()
