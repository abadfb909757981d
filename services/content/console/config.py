"""The console's configuration: what the plugin is built with."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from services.content.settings import Settings
from services.content.storage.repository import now


@dataclass
class ConsoleConfig:
    """How long sessions last, how cookies are marked, and the clock sessions are measured by."""

    idle: dt.timedelta = dt.timedelta(minutes=30)
    """A session unused for this long ends."""
    csrf_secret: str = ""
    """Key signing CSRF tokens (see `services.content.console.security`)."""
    database_url: str = ""
    """Source of the CSRF key when ``csrf_secret`` is empty (every replica shares it)."""
    public_url: str = ""
    """The service's public base URL: ``https://`` means every cookie is ``Secure``."""
    clock: Callable[[], dt.datetime] = field(default=now)
    """The current time (tests replace it to age a session without waiting)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleConfig:
        """The configuration ``settings`` describe."""
        return cls(
            idle=dt.timedelta(minutes=settings.console_idle_minutes),
            csrf_secret=settings.console_secret,
            database_url=settings.database_url,
            public_url=settings.public_url,
        )

    @property
    def behind_https(self) -> bool:
        """Whether the service is published over HTTPS (a proxy ends TLS in front of it)."""
        return self.public_url.lower().startswith("https://")
