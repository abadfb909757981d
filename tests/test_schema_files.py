"""The committed JSON Schema files match the msgspec contracts."""

from __future__ import annotations

from schemas.export import FOLDER, rendered


def test_committed_schema_files_match_the_code() -> None:
    for name, text in rendered().items():
        path = FOLDER / name
        assert path.exists(), f"{name} is missing: run `liaison schemas export`"
        assert path.read_text() == text, f"{name} differs from the code: run `liaison schemas export` and commit"
