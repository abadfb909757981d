"""Logging for every liaison process: readable lines in development, JSON lines in production.

Each record carries the request id of the request being handled (``-`` outside
one). Nothing logs request headers, so tokens and their hashes never reach a log.

The content service's access log is written off the request path: a request only puts a
tuple on a queue (:class:`AccessLog`), and a thread turns it into a ``liaison.access``
record, formatted and written by the same handler as every other line.
"""

from __future__ import annotations

import collections
import contextlib
import contextvars
import logging
import sys
import threading
import time
from typing import Literal, TextIO

import msgspec

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
"""The id of the request being handled, for log lines (set by the content service's middleware)."""


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # An access record carries the id of its request already: it is logged from another thread.
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


# msgspec rather than json: a tenth of the time, and the same JSON (UTF-8, not \u-escaped).
_encode = msgspec.json.Encoder().encode


class _Clock:
    """Formats a timestamp with ``strftime``, once per second rather than once per line."""

    def __init__(self, fmt: str) -> None:
        self._fmt = fmt
        self._second = -1
        self._text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._second, self._text = second, time.strftime(self._fmt, time.localtime(second))
        return self._text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id (and the exception)."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock("%Y-%m-%dT%H:%M:%S%z")

    def format(self, record: logging.LogRecord) -> str:
        """Render a record as JSON."""
        payload = {
            "time": self._clock(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return _encode(payload).decode()

    def access_line(self, created: float, message: str, request_id: str) -> str:
        """What ``format`` gives for an info record of ``liaison.access``, made without the record."""
        payload = {
            "time": self._clock(created),
            "level": "info",
            "logger": ACCESS_LOGGER.name,
            "message": message,
            "request_id": request_id,
        }
        return _encode(payload).decode()


class ConsoleFormatter(logging.Formatter):
    """A readable line: time, level, logger, [request id], message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s", "%H:%M:%S")
        self._clock = _Clock("%H:%M:%S")

    def access_line(self, created: float, message: str, request_id: str) -> str:
        """What ``format`` gives for an info record of ``liaison.access``, made without the record."""
        return f"{self._clock(created)} INFO    {ACCESS_LOGGER.name} [{request_id}] {message}"


def configure_logging(style: Literal["console", "json"] = "console", level: int = logging.INFO) -> None:
    """Send every logger (granian's and uvicorn's included) through one handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(JsonFormatter() if style == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("_granian", "granian.access", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for noisy in ("httpx", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


AccessEntry = tuple[float, tuple[str, int] | None, str, str, bytes, str, int, float, str]
"""(time, client (host, port), method, path, query string, HTTP version, status, duration in seconds, request id)."""

ACCESS_LOGGER = logging.getLogger("liaison.access")


class AccessLog:
    """One line per request in the ``liaison.access`` log, without a log call on the request path.

    ``record``, what a request pays, appends a tuple to a queue. A thread writes what is queued
    every ``interval`` seconds. With the handler ``configure_logging`` installs, it formats each line
    with that handler's formatter (``access_line``: the same line as a log record's, without
    making the record) and writes a batch at once; otherwise it hands records to the logger.
    ``stop`` writes what is left and ends the thread.
    """

    def __init__(self, logger: logging.Logger = ACCESS_LOGGER, interval: float = 0.05) -> None:
        self._logger = logger
        self._interval = interval
        self._entries: collections.deque[AccessEntry] = collections.deque()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.record = self._entries.append
        """Queue one request's entry (an :data:`AccessEntry`); a deque append, thread-safe."""

    def start(self) -> None:
        """Start the writer thread."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name="access-log", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Write every queued entry, then end the writer thread."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        # Waking on a timer, not on each entry: a request never hands the GIL to this thread.
        while not self._stopping.wait(self._interval):
            self.flush()
        self.flush()

    def flush(self) -> None:
        """Write the queued entries now."""
        batch: list[AccessEntry] = []
        entries = self._entries
        while entries:
            batch.append(entries.popleft())
        if not batch or not self._logger.isEnabledFor(logging.INFO):
            return
        handler = self._stream_handler()
        if handler is None:
            for entry in batch:
                self._logger.handle(self._record(entry))
            return
        access_line = handler.formatter.access_line  # type: ignore[union-attr]
        text = "".join(access_line(entry[0], _message(entry), entry[8]) + "\n" for entry in batch)
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(text)
            handler.flush()

    def _stream_handler(self) -> logging.StreamHandler[TextIO] | None:
        """The one stream handler every access record would reach, if its formatter has ``access_line``."""
        logger: logging.Logger | None = self._logger
        found: list[logging.Handler] = []
        while logger is not None:
            found.extend(logger.handlers)
            logger = logger.parent if logger.propagate else None
        if len(found) != 1 or not isinstance(found[0], logging.StreamHandler):
            return None
        handler: logging.StreamHandler[TextIO] = found[0]
        if not hasattr(handler.formatter, "access_line") or handler.level > logging.INFO:
            return None
        return handler

    def _record(self, entry: AccessEntry) -> logging.LogRecord:
        record = self._logger.makeRecord(
            self._logger.name, logging.INFO, __file__, 0, _message(entry), (), None, extra={"request_id": entry[8]}
        )
        record.created = entry[0]
        record.msecs = (entry[0] % 1) * 1000
        return record


def _message(entry: AccessEntry) -> str:
    _, client, method, path, query, version, status, duration, _ = entry
    target = f"{path}?{query.decode('latin-1')}" if query else path
    peer = f"{client[0]}:{client[1]}" if client else "-"
    return f'{peer} - "{method} {target} HTTP/{version}" {status} {duration * 1000:.1f}ms'
