"""The site agent's health, published beside its stream for ``liaison sync status``.

The report goes to the hash ``<stream>:agents`` (``agent_health.agents_key``), one field
per consumer: at once when the health changes, else at most every ``REPORT_SECONDS``.
A Redis that is down gets no report; the state file and the log still say it.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

import msgspec
from redis.exceptions import ResponseError

from services.redis_client import REDIS_DOWN
from services.sync.agent_health import AgentReport, agents_key

if TYPE_CHECKING:
    from services.sync.agent import SiteAgent

REPORT_SECONDS = 5.0
"""How stale a report's ``last_sequence`` may be while nothing else changes."""
REPORTED_DEAD_LETTERS = 10
"""The newest dead letters in a report (the state file keeps more)."""


class HealthReporter:
    """Publishes an agent's `AgentReport` when it changes, and now and then."""

    def __init__(self, agent: SiteAgent) -> None:
        self.agent = agent
        self._published: bytes | None = None
        self._at = 0.0

    def changed(self) -> None:
        """Something worth saying at once happened (a dead letter)."""
        self._published = None

    def report(self) -> AgentReport:
        """The agent's report as of now."""
        agent = self.agent
        return AgentReport(
            site=agent.site,
            consumer=agent.consumer,
            last_sequence=agent.state.last_sequence,
            health=agent.state.health,
            dead_letters=agent.state.dead_letters[-REPORTED_DEAD_LETTERS:],
            updated_at=dt.datetime.now(dt.UTC),
        )

    async def publish(self) -> None:
        """HSET the report if it changed or is getting old; a Redis that is down or refuses is ignored."""
        agent = self.agent
        health = msgspec.json.encode((agent.state.health, len(agent.state.dead_letters)))
        if health == self._published and time.monotonic() - self._at < REPORT_SECONDS:
            return
        try:
            await agent.redis.hset(agents_key(agent.stream), agent.consumer, msgspec.json.encode(self.report()))
        except (ResponseError, *REDIS_DOWN):
            return
        self._published = health
        self._at = time.monotonic()
