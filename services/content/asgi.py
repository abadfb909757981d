"""ASGI entry point for servers started by import string (``uvicorn --factory``)."""

from __future__ import annotations

from litestar import Litestar

from services.content.http.app import create_app
from services.content.settings import Settings


def app_factory() -> Litestar:
    """Build the app from the process environment (read here, at start-up, not at import)."""
    return create_app(Settings.from_env())
