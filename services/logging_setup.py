"""Logging for every liaison process: readable lines in development, JSON lines in production.

Each record carries the request id of the request being handled (``-`` outside
one). Nothing logs request headers, so tokens and their hashes never reach a log.

The content service's access log is written off the request path: a request only puts a
tuple on a queue (:class:`AccessLog`), and a thread turns it into a ``liaison.access``
record, formatted and written by the same handler as every other line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import queue
import sys
import threading
from typing import Literal

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The id of the request being handled, for log lines (set by the content service's middleware)."""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # An access record carries the id of its request already: it is logged from another thread.
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        payload = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(style: Literal["console", "json"] = "console", level: int = logging.INFO) -> None:
    """Send every logger (granian's and uvicorn's included) through one handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("_granian", "granian.access", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


AccessEntry = tuple[float, str, str, str, bytes, str, int, float, str]
"""(time, client, method, path, query string, HTTP version, status, duration in seconds, request id)."""

ACCESS_LOGGER = logging.getLogger("liaison.access")


class AccessLog:
    """One line per request in the ``liaison.access`` log, without a log call on the request path.

    ``record`` (what a request costs) puts a tuple on a queue; a daemon thread makes the log
    records and hands them to the handlers. ``stop`` writes what is queued and ends the thread.
    """

    def __init__(self, logger: logging.Logger = ACCESS_LOGGER) -> None:
        self._logger = logger
        self._queue: queue.SimpleQueue[AccessEntry | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.record = self._queue.put_nowait
        """Queue one request's entry (an :data:`AccessEntry`); cheap, never blocks."""

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._write, name="access-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Write every queued entry, then end the writer thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _write(self) -> None:
        logger = self._logger
        while (entry := self._queue.get()) is not None:
            if not logger.isEnabledFor(logging.INFO):
                continue
            created, client, method, path, query, version, status, duration, request_id = entry
            target = f"{path}?{query.decode('latin-1')}" if query else path
            record = logger.makeRecord(
                logger.name,
                logging.INFO,
                __file__,
                0,
                '%s - "%s %s HTTP/%s" %d %.1fms',
                (client, method, target, version, status, duration * 1000),
                None,
                extra={"request_id": request_id},
            )
            record.created = created
            record.msecs = (created % 1) * 1000
            logger.handle(record)
