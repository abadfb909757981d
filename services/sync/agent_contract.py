"""What the site agent reads of the service's answers: its own narrow structs, not the full schemas.

The service grows: a new block type, a new fact type, a new event ``reason``, new
fields. An agent deployed beside a website is upgraded later than the service, so it
decodes only the fields it uses, each with a type no narrower than the service's
(msgspec's schema-evolution rules): everything else in a render or an event is ignored.
A render's ``.json`` file is still written from the exact bytes fetched, so the website
gets the whole render whatever this agent knows of it.

There is no ``reason`` here on purpose: whatever changed a page, the agent fetches its
current render, so a reason it has never heard of is a re-render like any other.
"""

from __future__ import annotations

import datetime as dt

import msgspec


class AgentChange(msgspec.Struct):
    """``data`` of a page event, as far as the agent uses it."""

    site: str
    slug: str
    locale: str
    revision: int | None
    etag: str | None = None


class AgentEvent(msgspec.Struct):
    """A page event (CloudEvents 1.0), as far as the agent uses it."""

    id: str
    sequence: str
    data: AgentChange
    specversion: str = "1.0"


class AgentAlternate(msgspec.Struct):
    """One entry of a render's ``alternates``."""

    locale: str
    url: str
    status: str


class AgentRender(msgspec.Struct):
    """A page render (``PageRender``), as far as the agent and a website template use it."""

    site: str
    slug: str
    locale: str
    revision: int
    published_at: dt.datetime
    title: str
    html: str
    alternates: list[AgentAlternate] = []


class AgentFeed(msgspec.Struct):
    """``GET /v1/changes``: its events are kept raw, so that one the agent cannot read spoils only itself."""

    events: list[msgspec.Raw]
    next_after: int
    head: int


class AgentPageSummary(msgspec.Struct):
    """One page of ``GET /v1/sites/{site}/pages``."""

    slug: str
    locales: dict[str, int]
    etags: dict[str, str] = {}


class AgentPageList(msgspec.Struct):
    """``GET /v1/sites/{site}/pages``, as far as a full resync uses it."""

    items: list[AgentPageSummary]
    next_cursor: str | None = None


event_decoder = msgspec.json.Decoder(AgentEvent)
render_decoder = msgspec.json.Decoder(AgentRender)
feed_decoder = msgspec.json.Decoder(AgentFeed)
page_list_decoder = msgspec.json.Decoder(AgentPageList)
