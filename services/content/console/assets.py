"""The console's static files, served at URLs that carry a hash of their content.

The hashes are computed once, when the app is built: a file's URL changes exactly when its
bytes do, so browsers may keep it for a year (``immutable``) and a new release is never
mixed with an old cached file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

STATIC_DIRECTORY = Path(__file__).parent / "static"
ASSETS_PREFIX = "/console/assets/"
IMMUTABLE = "public, max-age=31536000, immutable"

MEDIA_TYPES = {
    ".css": "text/css",  # Litestar adds "; charset=utf-8" to text types
    ".js": "text/javascript",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}
"""Files served, by suffix; any other file of ``static/`` (licences, notes) is not."""


class Asset(msgspec.Struct, frozen=True):
    """One file: its bytes, media type and hashed name (``vendor/htmx.min.1a2b3c4d5e6f.js``)."""

    name: str
    hashed_name: str
    media_type: str
    content: bytes


class Assets:
    """Every servable file of a folder, by logical and by hashed name."""

    def __init__(self, directory: Path = STATIC_DIRECTORY) -> None:
        self._by_name: dict[str, Asset] = {}
        self._by_hashed: dict[str, Asset] = {}
        for path in sorted(directory.rglob("*")):
            media_type = MEDIA_TYPES.get(path.suffix)
            if media_type is None or not path.is_file():
                continue
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()[:12]
            name = path.relative_to(directory).as_posix()
            hashed = f"{name.removesuffix(path.suffix)}.{digest}{path.suffix}"
            asset = Asset(name=name, hashed_name=hashed, media_type=media_type, content=content)
            self._by_name[name] = asset
            self._by_hashed[hashed] = asset

    def url(self, name: str) -> str:
        """The URL of the file ``name`` (relative to ``static/``); a `KeyError` for an unknown one."""
        return ASSETS_PREFIX + self._by_name[name].hashed_name

    def by_hashed_name(self, hashed_name: str) -> Asset | None:
        """The file served at ``/console/assets/<hashed_name>``, if any."""
        return self._by_hashed.get(hashed_name)
