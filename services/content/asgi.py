"""ASGI entry point for servers started by import string (``uvicorn --factory --no-date-header``).

The app sends ``Date`` itself, so the server must not add its own (``liaison serve`` turns it off).
"""

from __future__ import annotations

from litestar import Litestar

from services.content.http.app import create_app
from services.content.settings import Settings
from services.logging_setup import configure_logging


def app_factory() -> Litestar:
    """Build the app from the process environment (read here, at start-up, not at import).

    Each server worker process calls this, so logging is configured here too.
    """
    settings = Settings.from_env()
    configure_logging(settings.log_format)
    return create_app(settings)
