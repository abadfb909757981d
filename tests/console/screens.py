"""Screenshots of the console's main screens, written by the browser tests for `make screenshots`.

`save_screen` does nothing unless ``LIAISON_SCREENSHOTS`` names a folder; `make screenshots`
sets it to ``docs/screenshots`` and runs the browser tests.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page


def save_screen(page: Page, name: str, *, width: int = 1280) -> Path | None:
    """Write ``<name>.png`` of the whole page at ``width`` pixels when screenshots are asked for."""
    folder = os.environ.get("LIAISON_SCREENSHOTS")
    if not folder:
        return None
    target = Path(folder) / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    height = page.viewport_size["height"] if page.viewport_size else 800
    page.set_viewport_size({"width": width, "height": height})
    page.screenshot(path=str(target), full_page=True)
    return target
