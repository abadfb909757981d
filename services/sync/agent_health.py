"""How a site agent is doing, said once per change: saved in its state, published beside its stream, logged.

The log gets one line when a problem starts (or becomes another one) and one when it
ends, never one per retry (docs/production.md). The same health is saved in the
agent's state file and, while Redis answers, published in the hash
``<stream>:agents`` (one field per consumer), which ``liaison sync status`` shows.
A folder that refuses writes cannot hold the state that says so: Redis and the log
still do.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from pathlib import Path

import msgspec

from services.sync.agent_errors import FileSystemError

logger = logging.getLogger("liaison.agent")

DEAD_LETTERS_KEPT = 50
"""Dead letters an agent keeps in its state (the newest): a Redis that loses its data loses its dead-letter stream."""
EVENT_KEPT_BYTES = 2048
"""Bytes of a dead-lettered event kept in the state: enough to see what it was."""


class Mode(enum.StrEnum):
    """Where the agent takes its events from."""

    STREAM = "stream"
    """Its consumer group on the site's Redis stream: the normal way."""
    FEED = "feed"
    """The change feed (``GET /v1/changes``), while Redis is unreachable."""


class AgentHealth(msgspec.Struct):
    """The agent's current problems (None when fine), saved in its state file."""

    mode: Mode = Mode.STREAM
    files_error: str | None = None
    """A file-system error that stops the agent writing: the path and the error text."""
    redis_error: str | None = None
    api_error: str | None = None
    since: dt.datetime | None = None
    """When the oldest current problem started."""


class DeadLetter(msgspec.Struct):
    """An event the agent gave up on, kept in its state with the reason."""

    reason: str
    at: dt.datetime
    entry: str | None = None
    """Its stream entry id; None for an event read from the change feed."""
    sequence: int | None = None
    event: str = ""
    """The start of the event as received (``EVENT_KEPT_BYTES``), for a person to look at."""


class AgentReport(msgspec.Struct):
    """What an agent publishes in ``<stream>:agents`` for ``liaison sync status``."""

    site: str
    consumer: str
    last_sequence: int
    health: AgentHealth
    dead_letters: list[DeadLetter]
    updated_at: dt.datetime


report_decoder = msgspec.json.Decoder(AgentReport)


def agents_key(stream: str) -> str:
    """The hash where a site's agents publish their reports."""
    return stream + ":agents"


def keep_dead_letter(letters: list[DeadLetter], letter: DeadLetter) -> list[DeadLetter]:
    """``letters`` with ``letter`` added (once per stream entry), the newest ``DEAD_LETTERS_KEPT``."""
    if letter.entry is not None and any(kept.entry == letter.entry for kept in letters):
        return letters
    return [*letters, letter][-DEAD_LETTERS_KEPT:]


def dead_letter(reason: str, raw: bytes, entry: str | None = None, sequence: int | None = None) -> DeadLetter:
    """A dead letter of now."""
    return DeadLetter(
        reason=reason[:500],
        at=dt.datetime.now(dt.UTC),
        entry=entry,
        sequence=sequence,
        event=raw[:EVENT_KEPT_BYTES].decode(errors="replace"),
    )


class HealthLog:
    """Changes ``health`` and logs a line when a problem starts, changes or ends."""

    def __init__(self, site: str, health: AgentHealth) -> None:
        self.site = site
        self.health = health
        self._failing: set[str] = set()
        """Files whose last write failed: the problem ends when each has been written (or the next state saved)."""
        self._problem: tuple[int, str] | None = None

    def _touch(self) -> None:
        problems = (self.health.files_error, self.health.redis_error, self.health.api_error)
        if any(problems):
            self.health.since = self.health.since or dt.datetime.now(dt.UTC)
        else:
            self.health.since = None

    def files_failed(self, exc: FileSystemError) -> bool:
        """A write, rename or removal in the folder failed; True (and a log line) when it is a new problem.

        A problem is an error in a folder: a thousand pages refused for the same reason
        make one line.
        """
        self._failing.add(exc.target)
        self.health.files_error = str(exc)
        self._touch()
        problem = (exc.code, exc.folder)
        if problem == self._problem:
            return False
        self._problem = problem
        logger.error("agent %s: %s; nothing is acknowledged until it is written, retrying with backoff", self.site, exc)
        return True

    def files_ok(self, target: Path | str) -> None:
        """``target`` was written (or removed): the problem ends once no file is failing."""
        if self.health.files_error is None:
            return
        self._failing.discard(str(target))
        if self._failing:
            return
        logger.info("agent %s: files are written again (was: %s)", self.site, self.health.files_error)
        self.health.files_error = None
        self._problem = None
        self._touch()

    def following_feed(self, reason: str, sequence: int) -> None:
        """Redis is unreachable: the agent follows the change feed."""
        if self.health.mode is not Mode.FEED:
            logger.warning(
                "agent %s: Redis unreachable (%s); following the change feed from sequence %d",
                self.site,
                reason,
                sequence,
            )
        self.health.mode = Mode.FEED
        self.health.redis_error = reason
        self._touch()

    def back_on_stream(self, sequence: int) -> None:
        """Redis answers again: back to the consumer group."""
        if self.health.mode is Mode.FEED:
            logger.info("agent %s: Redis reachable again; back on the stream after sequence %d", self.site, sequence)
        self.health.mode = Mode.STREAM
        self.health.redis_error = None
        self._touch()

    def api(self, error: str | None) -> None:
        """The content API failed (``error``) or answered again (None); the agent's log says it already."""
        self.health.api_error = error
        self._touch()
