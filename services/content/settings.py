"""The service's settings: one typed object, read from ``LIAISON_*`` variables on request."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import msgspec
from msgspec.structs import force_setattr

PREFIX = "LIAISON_"


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the content service and the sync worker can be configured with.

    Each field is read from ``LIAISON_<FIELD>`` by `Settings.from_env`; nothing in
    the code base reads the environment anywhere else.
    """

    database_url: str = "sqlite+aiosqlite:///var/liaison.db"
    """SQLAlchemy URL; ``postgresql+asyncpg://...`` in production."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    """Redis used by the sync worker."""
    host: str = "127.0.0.1"
    """Address ``liaison serve`` binds."""
    port: int = 8000
    """Port ``liaison serve`` binds."""
    public_url: str = ""
    """Base URL the service is reached at, used in event and alternate links (default: from host and port)."""
    max_body_bytes: int = 1_048_576
    """Largest accepted request body; larger ones get 413."""
    cache_max_age: int = 60
    """``Cache-Control: max-age`` of public page responses, in seconds."""
    stream_prefix: str = "liaison:events:"
    """Each site's events go to the Redis stream ``<prefix><site>``."""
    stream_maxlen: int = 100_000
    """Stream retention: XADD trims each stream to about this many entries (MAXLEN ~)."""
    outbox_retention: int = 100_000
    """Change-feed retention: relayed outbox rows kept per site; an older cursor gets 410."""
    relay_batch: int = 500
    """Outbox rows the relay handles per round."""
    relay_lease_seconds: float = 10.0
    """How long the relay's lease lasts without renewal; a crashed relay's standby takes over at once (its lock)."""
    relay_poll_seconds: float = 0.5
    """Fallback poll interval of the relay; commits also wake it at once."""
    redis_socket_timeout: float = 5.0
    """Socket timeout of every Redis client; blocking reads block for less than this."""
    agent_dead_letter_after: int = 5
    """Deliveries after which an event an agent cannot handle goes to the dead-letter stream."""
    metrics_token: str = ""
    """When set, ``GET /metrics`` needs ``Authorization: Bearer <this token>``; empty: it is public."""
    console_idle_minutes: int = 30
    """A console session unused for this long ends; the editor signs in again (docs/production.md)."""
    console_secret: str = ""
    """Key signing the console's CSRF tokens, the same on every replica (default: derived from database_url)."""
    log_format: Literal["console", "json"] = "console"
    debug: bool = False

    def __post_init__(self) -> None:
        if not self.public_url:
            # Set only LIAISON_PORT and every link still points at the server: derive it.
            force_setattr(self, "public_url", local_url(self.host, self.port))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default: the process environment).

        Unknown ``LIAISON_*`` names are an error, so a typo does not pass silently.
        """
        env = os.environ if environ is None else environ
        fields = set(cls.__struct_fields__)
        raw: dict[str, str] = {}
        for name, value in env.items():
            if not name.startswith(PREFIX) or name.startswith("LIAISON_TEST_"):
                continue
            field = name.removeprefix(PREFIX).lower()
            if field not in fields:
                raise ValueError(f"unknown setting {name}; known: {', '.join(sorted(fields))}")
            raw[field] = value
        return msgspec.convert(raw, cls, strict=False)


def local_url(host: str, port: int) -> str:
    """``http://host:port`` of a server bound to ``host``; a wildcard address becomes the loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)  # noqa: S104 - compared, not bound
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"
