"""JSON Schema files of the public contracts, written beside this module.

``liaison schemas export`` writes them; a test fails when the committed files
differ from what the code says, so the files never drift from the Structs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from schemas.delivery import PageRender
from schemas.events import ChangeFeed, PageEvent

FOLDER = Path(__file__).parent
CONTRACTS: dict[str, Any] = {
    "page-event.schema.json": PageEvent,
    "change-feed.schema.json": ChangeFeed,
    "page-render.schema.json": PageRender,
}


def rendered() -> dict[str, str]:
    """File name -> JSON Schema text, as the code defines it now."""
    return {
        name: json.dumps(msgspec.json.schema(contract), indent=2, sort_keys=True) + "\n"
        for name, contract in CONTRACTS.items()
    }


def export(folder: Path = FOLDER) -> list[Path]:
    """Write every schema file; return the paths written."""
    written = []
    for name, text in rendered().items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written
