"""The site agent without Redis: it follows the change feed until Redis answers again.

The feed (``GET /v1/changes``) holds every event from the commit of its change, relayed
or not, so a website stays fresh through a Redis outage. The agent applies the feed
from its last applied sequence, in order, saves its state (``last_sequence`` is the
last event applied, whichever path applied it), and asks Redis again after each
round. Back on the stream, the entries it already applied from the feed have a
sequence at or below ``last_sequence``: they are acknowledged without being applied
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import TYPE_CHECKING

import msgspec

from services.redis_client import REDIS_DOWN
from services.sync.agent_errors import PoisonEvent, Transient

if TYPE_CHECKING:
    from services.sync.agent import SiteAgent

logger = logging.getLogger("liaison.agent")

FEED_POLL_SECONDS = 1.0
"""Between two reads of the feed when it had nothing new (jittered): also how often Redis is tried again."""


class _Sequenced(msgspec.Struct):
    sequence: str


async def follow_feed(agent: SiteAgent, stop: asyncio.Event, reason: str, poll: float = FEED_POLL_SECONDS) -> None:
    """Apply the change feed until Redis answers a PING (or ``stop`` is set); failures back off with jitter."""
    agent.health.following_feed(reason, agent.state.last_sequence)
    while not stop.is_set():
        try:
            await agent.repair()
            agent.reset_backoff()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), random.uniform(poll / 2, poll))  # noqa: S311
        except Transient as exc:
            if not await agent.back_off(exc):
                return
        if stop.is_set():
            return
        try:
            await agent.redis.ping()
        except REDIS_DOWN as exc:
            agent.health.following_feed(f"{exc.__class__.__name__}: {exc}", agent.state.last_sequence)
            continue
        return


async def apply_feed_event(agent: SiteAgent, raw: msgspec.Raw, upto: int | None) -> int | None:
    """Apply one event of the feed; its sequence, or None when it is past ``upto``.

    An event the agent cannot use is tried ``agent_dead_letter_after`` times, then kept
    in the state's dead letters and skipped, as a stream entry would be: the feed has no
    dead-letter stream, and it must not stop the agent.
    """
    data = bytes(raw)
    try:
        event = agent.decode_event(data)
    except PoisonEvent as exc:
        sequence = _sequence_of(data, agent.state.last_sequence + 1)
        if upto is not None and sequence > upto:
            return None
        _give_up(agent, str(exc), data, sequence)
        return sequence
    sequence = int(event.sequence)
    if upto is not None and sequence > upto:
        return None
    failures = 0
    while True:
        try:
            await agent.apply(event.data.slug, event.data.locale, event.data.revision, sequence, event.data.etag)
            return sequence
        except PoisonEvent as exc:
            failures += 1
            if failures >= agent.settings.agent_dead_letter_after:
                _give_up(agent, str(exc), data, sequence)
                return sequence
            await asyncio.sleep(min(1.0, 0.05 * 2**failures))


def _sequence_of(data: bytes, expected: int) -> int:
    """The sequence of an event the agent cannot read otherwise; the feed is gapless, so ``expected`` if none."""
    try:
        text = msgspec.json.decode(data, type=_Sequenced).sequence
    except msgspec.DecodeError:
        return expected
    return int(text) if text.isdigit() else expected


def _give_up(agent: SiteAgent, reason: str, data: bytes, sequence: int) -> None:
    agent.keep_dead_letter(reason, data, sequence=sequence)
    logger.error("agent %s: feed event %d skipped, kept in the state: %s", agent.site, sequence, reason)
