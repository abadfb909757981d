"""The site agent: keeps an embassy website's copy of its pages in step with the events.

It reads its site's stream through a consumer group, and for each event fetches
the render from the content API (``If-None-Match``, ``min_revision``), writes
``<slug>.<locale>.html`` and ``.json`` atomically, saves its state, and only then
acknowledges. An event whose ETag is the one of the copy it holds is applied
without a request. It never replaces a newer revision with an older one; duplicates
and stale events do nothing.

A fact used by a thousand pages makes thousands of events at once, so a batch is
applied concurrently: one fetch per page over a pool of keep-alive connections.
The files are written off the event loop, by group commit (`GroupCommit`): the
renders fetched while the writer thread is busy are written together, with one
sync between staging their files and renaming them into place. The folder is
synced once per batch, before the state is saved and the batch acknowledged.

A gap in the sequence, or a lost consumer group, is repaired from the change
feed; a cursor older than the feed's retention triggers a full resync from the
page list. An event it cannot handle N times goes to the dead-letter stream
``<stream>:dead``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import random
import re
import socket
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.content.settings import Settings
from services.redis_client import REDIS_DOWN, blocking_read_ms
from services.sync.agent_contract import AgentEvent, AgentRender, event_decoder, feed_decoder, page_list_decoder
from services.sync.agent_contract import render_decoder as _render_decoder
from services.sync.agent_errors import FileSystemError, PoisonEvent, Transient
from services.sync.agent_feed import apply_feed_event, follow_feed
from services.sync.agent_files import GroupCommit, remove_leftovers, stage_file, sync_to_disk
from services.sync.agent_health import AgentHealth, HealthLog, Mode, dead_letter, keep_dead_letter
from services.sync.agent_report import HealthReporter
from services.sync.agent_state import AgentState, PageCopy, StateFile, rfc3339
from services.sync.relay import stream_key
from services.sync.site_pages import SiteFiles, SitePages
from services.sync.site_template import SiteTemplate

logger = logging.getLogger("liaison.agent")

MAX_EVENT_BYTES = 64 * 1024
MAX_SEQUENCE = 2**31 - 1
# Pauses before asking again when a 304 answers an event naming another render (see apply):
# 1 s in all, past the 0.25 s within which every content process drops a changed render.
RE_RENDER_PAUSES = (0.1, 0.3, 0.6)
"""Largest sequence the change feed accepts as a cursor (asks it for the head only)."""
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,120}$")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")

READ_COUNT = 500
"""Entries read at once: a fan-out's events go in few batches (each ends with a state save and an ack)."""
FETCH_CONCURRENCY = 32
"""Renders a batch fetches at once; also the size of the connection pool to the content API."""
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=5, sock_read=10)
"""Per request: a content API that hangs is a transient failure, retried with backoff."""
KEEPALIVE_SECONDS = 4.0
"""Idle connections are closed by the agent before uvicorn's own 5 s keep-alive limit closes them
under a request (which would be a transient failure and a retry)."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Reply:
    """What the agent keeps of a content API response (read in full, the connection back in the pool)."""

    status: int
    body: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class RenderWrite:
    """One render to write: its files (path and bytes) and its journal line."""

    files: Sequence[tuple[Path, bytes]]
    line: str


def _write_renders(writes: Sequence[RenderWrite], journal: int | None) -> list[BaseException | None]:
    """Write a group of renders durably (in the writer thread); return each one's failure or None.

    Every file is staged, one sync puts their data on disk, and only then are
    they renamed into place: after a crash a reader finds the old file or the new one,
    never an empty one. The renames become durable with the folder sync that comes
    before the state is saved.
    """
    outcomes: list[BaseException | None] = []
    staged: list[list[tuple[Path, Path]]] = []
    for write in writes:
        try:
            staged.append(_stage_files(write.files))
            outcomes.append(None)
        except BaseException as exc:  # this render only: it is reported to its own waiter
            staged.append([])
            outcomes.append(exc)
    try:
        if any(staged):
            sync_to_disk()
    except BaseException:
        for files in staged:
            _discard(files)
        raise
    for index, (write, files) in enumerate(zip(writes, staged, strict=True)):
        if outcomes[index] is None:
            try:
                _commit_files(files, journal, write.line)
            except BaseException as exc:
                outcomes[index] = exc
    return outcomes


def _commit_files(staged: Sequence[tuple[Path, Path]], journal: int | None, line: str) -> None:
    """Rename a render's synced temporary files over its files, then append its journal line (in a writer thread)."""
    for temporary, path in staged:
        os.replace(temporary, path)
    if journal is not None:
        # One write(2) on an O_APPEND descriptor: lines of concurrent writers never mix.
        os.write(journal, f"{line} {rfc3339(dt.datetime.now(dt.UTC))}\n".encode())


def _stage_files(files: Sequence[tuple[Path, bytes]]) -> list[tuple[Path, Path]]:
    """Write a render's files to temporary files (in a writer thread); return (temporary, final) pairs."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files:
            staged.append((stage_file(path, data), path))
    except BaseException:
        _discard(staged)
        raise
    return staged


def _discard(staged: Sequence[tuple[Path, Path]]) -> None:
    for temporary, _ in staged:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


class SiteAgent:
    """Applies one site's events to a folder of files."""

    def __init__(
        self,
        settings: Settings,
        site: str,
        out_dir: Path,
        api_url: str,
        redis: Redis,
        blocking_redis: Redis,
        *,
        consumer: str | None = None,
        group: str = "site-agent",
        http: aiohttp.ClientSession | None = None,
        claim_idle_ms: int = 30_000,
        journal: Path | None = None,
        fetch_concurrency: int = FETCH_CONCURRENCY,
        template: SiteTemplate | None = None,
    ) -> None:
        self.settings = settings
        self.site = site
        self.out_dir = out_dir
        self.api_url = api_url.rstrip("/")
        self.redis = redis
        self.blocking_redis = blocking_redis
        # A stable default name: a restarted agent finds the entries it had not acknowledged.
        self.consumer = consumer or f"{socket.gethostname()}:{site}"
        self.group = group
        self.stream = stream_key(settings, site)
        self.dead_letters = self.stream + ":dead"
        # The session is made on first use: aiohttp wants a running event loop for it.
        self._http = http
        self._owns_http = http is None
        self.fetch_concurrency = fetch_concurrency
        # One writer thread: file writes go in groups (`GroupCommit`), so more threads would only
        # contend for the interpreter lock, and the state is saved after the writes before it.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agent-{site}-write")
        self._group = GroupCommit[RenderWrite](
            lambda writes: asyncio.get_running_loop().run_in_executor(
                self._writer, _write_renders, writes, self._journal()
            )
        )
        self.claim_idle_ms = claim_idle_ms
        self.journal = journal
        """Optional append-only log of every file write (sequence, slug, locale, revision, publication time, ETag,
        write time)."""
        self._journal_fd: int | None = None
        self.state_file = StateFile(out_dir, site)
        self.state = AgentState(site=site)
        self.health = HealthLog(site, self.state.health)
        self.reporter = HealthReporter(self)
        self.pages = SitePages(out_dir, template or SiteTemplate())
        """The complete pages, indexes and sitemap written beside the fragments (`site_pages.py`)."""
        self.applied = 0
        self._api_down = False
        """Whether the content API failed since it last answered (said once, not once per retry)."""
        self._stop = asyncio.Event()
        self._delay = 0.0

    # -- files -----------------------------------------------------------------------

    def _paths(self, slug: str, locale: str) -> tuple[Path, Path]:
        base = self.out_dir / f"{slug}.{locale}"
        return base.with_name(base.name + ".html"), base.with_name(base.name + ".json")

    async def _write(self, render: AgentRender, body: bytes, etag: str, sequence: int) -> bool:
        """Write a render unless the copy we hold comes from a later publication; True when written.

        Publications are ordered by their time, not by revision number: publishing
        revision 3 again after revision 5 is a newer state with a lower number. A
        re-render (a fact or fragment changed) keeps the publication time and is written.

        The check, the write and the state update of one (slug, locale) must not
        interleave with another of the same page: callers apply a page once at a time
        (a batch collapses its events per page). The files are written in a writer
        thread; the state changes on the event loop once they are on disk.
        """
        key = f"{render.slug}.{render.locale}"
        held = self.state.pages.get(key)
        published = render.published_at
        if held is not None and published < held.published_at:
            return False
        html, json = self._paths(render.slug, render.locale)
        line = " ".join(map(str, (sequence, render.slug, render.locale, render.revision, rfc3339(published), etag)))
        page = self.pages.page(body)
        files = ((html, render.html.encode()), (json, body), (page.path, page.data))
        job = asyncio.ensure_future(self._group.submit(RenderWrite(files, line)))
        copy = PageCopy(render.revision, etag, max(sequence, held.sequence if held else 0), published)
        try:
            await asyncio.shield(job)
        except asyncio.CancelledError:
            # A thread cannot be stopped mid-write: let it finish and record what it wrote, so
            # the state matches the files and no later write of this page races this one.
            with contextlib.suppress(Exception):
                await job
                self.state.pages[key] = copy
                self.pages.written(page)
            raise
        except OSError as exc:
            raise FileSystemError.of(exc, html) from exc
        self.state.pages[key] = copy
        self.health.files_ok(html)
        self.pages.written(page)
        return True

    def _journal(self) -> int | None:
        """The journal's descriptor, opened for appending on first use."""
        if self.journal is not None and self._journal_fd is None:
            self._journal_fd = os.open(self.journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._journal_fd

    async def _save_state(self) -> None:
        """Write the indexes and sitemap if they changed, sync the folders, then save the state.

        In the writer thread: what is acknowledged next is on disk.
        """
        files = self.pages.site_files()
        try:
            await asyncio.get_running_loop().run_in_executor(self._writer, self._save, files)
        except OSError as exc:
            raise FileSystemError.of(exc, self.state_file.path) from exc
        self.health.files_ok(self.state_file.path)

    def _save(self, files: SiteFiles) -> None:
        self.pages.write(files)
        self.state_file.save(self.state)

    async def _start_pages(self) -> None:
        """Write the indexes and sitemap, and every complete page again if the template changed since the state."""
        files, rewritten = await asyncio.to_thread(self.pages.start, list(self.state.pages), self.state.template_hash)
        if rewritten or self.state.template_hash != self.pages.template.hash:
            self.state.template_hash = self.pages.template.hash
            logger.info(
                "agent %s: site template %s; rewrote %d page(s)", self.site, self.pages.template.folder, rewritten
            )
        await asyncio.get_running_loop().run_in_executor(self._writer, self._save, files)

    def _remove(self, slug: str, locale: str) -> None:
        for path in self._paths(slug, locale):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise FileSystemError.of(exc, path) from exc
            self.health.files_ok(path)
        try:
            self.pages.remove(slug, locale)
        except OSError as exc:
            raise FileSystemError.of(exc, self.out_dir) from exc
        self.state.pages.pop(f"{slug}.{locale}", None)

    # -- the content API -----------------------------------------------------------------

    @property
    def http(self) -> aiohttp.ClientSession:
        """The agent's HTTP session: keep-alive connections, as many as the fetches of a batch."""
        if self._http is None:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.fetch_concurrency, keepalive_timeout=KEEPALIVE_SECONDS),
                timeout=HTTP_TIMEOUT,
                cookie_jar=aiohttp.DummyCookieJar(),  # the API sets no cookies; skip the jar's work
            )
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP session (when the agent made it), the writer thread and the journal.

        The Redis clients belong to the caller.
        """
        if self._http is not None and self._owns_http:
            await self._http.close()
        self._http = None
        # Writes still under way (their task was cancelled) finish before the journal closes.
        await asyncio.to_thread(self._writer.shutdown, wait=True)
        if self._journal_fd is not None:
            os.close(self._journal_fd)
            self._journal_fd = None

    async def _get(
        self, path: str, params: Mapping[str, str | int] | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """GET ``api_url + path``; unreachable, timed out, 5xx and 429 are Transient.

        The URL is built by concatenation, not joined to a session base URL: ``api_url``
        may carry a path prefix (``http://host/cms``) that a join of ``/v1/...`` would drop.
        """
        try:
            async with self.http.get(self.api_url + path, params=params, headers=headers) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Transient(f"content API unreachable: {exc.__class__.__name__}") from exc
        if response.status >= 500 or response.status == 429:
            raise Transient(f"content API answered {response.status}")
        if self._api_down and response.status < 400:
            self._api_down = False
            self.health.api(None)
            logger.info("agent %s: content API reachable again", self.site)
        return Reply(response.status, body, response.headers.get("ETag", ""))

    def _retrying(self, exc: Exception, delay: float) -> bool:
        """Log a transient failure when the agent starts failing (its retries only at debug level); True then."""
        if isinstance(exc, FileSystemError):
            return self.health.files_failed(exc)
        self.health.api(str(exc))
        if self._api_down:
            logger.debug("agent %s: %s; retrying in %.1fs", self.site, exc, delay)
            return False
        self._api_down = True
        logger.warning("agent %s: %s; retrying with backoff", self.site, exc)
        return True

    async def apply(self, slug: str, locale: str, revision: int | None, sequence: int, etag: str | None = None) -> None:
        """Bring the local copy of (slug, locale) up to date with the published render.

        ``etag`` is the ETag the event (or the page list) gives for the render: when it is
        the one of the copy held, and that copy's revision is not older than the event's,
        the copy is already that render and nothing is fetched.
        """
        key = f"{slug}.{locale}"
        held = self.state.pages.get(key)
        if held is not None and etag and etag == held.etag and revision is not None and held.revision >= revision:
            held.sequence = max(held.sequence, sequence)  # as a 304 would
            return
        params: dict[str, str | int] = {"locale": locale}
        # min_revision guards against a content process that has not seen the publish yet.
        if revision is not None:
            params["min_revision"] = revision
        headers = {"If-None-Match": held.etag} if held else {}
        path = f"/v1/sites/{quote(self.site, safe='')}/pages/{quote(slug, safe='')}"
        response = await self._get(path, params=params, headers=headers)
        if response.status == 409:
            # The API answers 409 only after reading the database again: the page's publication
            # has moved on since this event (another revision, older or not, was published, or the
            # locale was unpublished: a fallback never satisfies min_revision), so the answer it
            # gives now is newer than the event's and is the one to keep.
            params.pop("min_revision")
            response = await self._get(path, params=params, headers=headers)
        for pause in RE_RENDER_PAUSES:
            if response.status != 304 or not etag or held is None or etag == held.etag:
                break
            # The event names a render other than the copy held, yet the API says nothing changed.
            # A re-render (a fact, an included fragment) keeps its revision, so min_revision cannot
            # demand it, and a content process that has not yet dropped its cached render answers
            # 304. Ask again; after the pauses, believe it (the page may be back to the copy held).
            await asyncio.sleep(pause)
            response = await self._get(path, params=params, headers=headers)
        if response.status == 304:
            if held is not None:
                held.sequence = max(held.sequence, sequence)
            return
        if response.status == 404:
            self._remove(slug, locale)
            return
        if response.status != 200:
            raise PoisonEvent(f"content API answered {response.status} for {slug}.{locale}")
        try:
            render = _render_decoder.decode(response.body)
        except msgspec.DecodeError as exc:
            raise PoisonEvent(f"the render of {slug}.{locale} is not one this agent can read: {exc}") from exc
        if render.locale != locale:
            # The locale is not published: the API fell back to another one.
            self._remove(slug, locale)
            return
        await self._write(render, response.body, response.etag, sequence)

    # -- events ------------------------------------------------------------------------

    def _decode(self, fields: dict[bytes, bytes]) -> AgentEvent:
        raw = fields.get(b"event")
        if raw is None:
            raise PoisonEvent("entry has no 'event' field")
        return self.decode_event(raw)

    def decode_event(self, raw: bytes) -> AgentEvent:
        """The fields the agent uses of an event (from the stream or the feed), checked; PoisonEvent if unusable."""
        if len(raw) > MAX_EVENT_BYTES:
            raise PoisonEvent(f"event of {len(raw)} bytes is over {MAX_EVENT_BYTES}")
        try:
            event = event_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            raise PoisonEvent(f"not a page event: {exc}") from exc
        if event.specversion != "1.0":
            raise PoisonEvent(f"unsupported specversion {event.specversion!r}")
        if event.data.site != self.site:
            raise PoisonEvent(f"event for site {event.data.site!r} in the stream of {self.site!r}")
        if not event.sequence.isdigit():
            raise PoisonEvent(f"sequence {event.sequence!r} is not a number")
        # The slug and locale become file names: anything but a real slug and tag is refused.
        if not _SLUG.match(event.data.slug) or not _LOCALE.match(event.data.locale):
            raise PoisonEvent(f"invalid slug or locale in {event.data.slug!r}/{event.data.locale!r}")
        return event

    async def handle(self, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        """Apply one stream entry, retrying transient failures; dead-letter it after N failures."""
        failures = 0
        delay = 0.0
        while True:
            try:
                event = self._decode(fields)
                sequence = int(event.sequence)
                if sequence > self.state.last_sequence:
                    if sequence > self.state.last_sequence + 1:
                        await self.repair(upto=sequence - 1)
                    await self.apply(event.data.slug, event.data.locale, event.data.revision, sequence, event.data.etag)
                    self.state.last_sequence = max(self.state.last_sequence, sequence)
                    self.applied += 1
                await self._save_state()
                await self.redis.xack(self.stream, self.group, entry_id)
                return
            except PoisonEvent as exc:
                failures += 1
                if failures >= self.settings.agent_dead_letter_after:
                    await self._dead_letter(entry_id, fields, str(exc))
                    return
                await asyncio.sleep(min(1.0, 0.05 * 2**failures))
            except Transient as exc:
                if self._stop.is_set():
                    return  # not acknowledged: it is delivered again after the restart
                delay = min(5.0, max(0.1, delay * 2))
                self._retrying(exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), random.uniform(delay / 2, delay))  # noqa: S311

    async def handle_batch(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> None:
        """Apply a batch read from the stream: pages in parallel, each page once, then one save and one ack.

        Applying fetches the current render, so several events of one page collapse
        into one fetch (with the highest revision as ``min_revision``), and one page is
        never applied twice at once. Up to ``fetch_concurrency`` pages are fetched and
        written at the same time. A batch with a hole in its sequences, or a poison
        entry, goes entry by entry instead.
        """
        decoded: list[tuple[bytes, AgentEvent]] = []
        entries_by_id = dict(entries)
        for entry_id, fields in entries:
            try:
                decoded.append((entry_id, self._decode(fields)))
            except PoisonEvent:
                await self.handle(entry_id, fields)
        fresh = [(entry_id, event) for entry_id, event in decoded if int(event.sequence) > self.state.last_sequence]
        sequences = sorted(int(event.sequence) for _, event in fresh)
        if sequences and sequences != list(range(sequences[0], sequences[0] + len(sequences))):
            for entry_id, fields in entries:
                await self.handle(entry_id, fields)
            return
        if sequences:
            while sequences[0] > self.state.last_sequence + 1:
                try:
                    await self.repair(upto=sequences[0] - 1)
                except Transient as exc:
                    if not await self.back_off(exc):
                        return
            latest: dict[tuple[str, str], AgentEvent] = {}
            for _, event in fresh:
                key = (event.data.slug, event.data.locale)
                if key not in latest or int(event.sequence) > int(latest[key].sequence):
                    latest[key] = event
            applied = await self._concurrently(self._apply_retrying(event) for event in latest.values())
            outcomes = dict(zip(latest, applied, strict=True))
            if "stopped" in outcomes.values():
                return  # stopping: nothing acknowledged, all of it comes again after the restart
            poisoned = {key for key, outcome in outcomes.items() if outcome == "poison"}
            if poisoned:
                # Entry by entry for those pages, so each bad entry is retried and dead-lettered on its own.
                for entry_id, event in fresh:
                    if (event.data.slug, event.data.locale) in poisoned:
                        await self.handle(entry_id, entries_by_id[entry_id])
            self.state.last_sequence = max(self.state.last_sequence, sequences[-1])
            self.applied += len(fresh)
        await self._save_state()
        if decoded:
            await self.redis.xack(self.stream, self.group, *[entry_id for entry_id, _ in decoded])

    async def _concurrently(self, calls: Iterable[Awaitable[T]]) -> list[T]:
        """Await ``calls``, at most ``fetch_concurrency`` at once; the first failure is raised once all are done.

        Waiting for all before raising means no apply of a page is still running when
        the caller goes on (and may apply that page again).
        """
        limit = asyncio.Semaphore(self.fetch_concurrency)

        async def bounded(call: Awaitable[T]) -> T:
            async with limit:
                return await call

        results = await asyncio.gather(*(bounded(call) for call in calls), return_exceptions=True)
        done: list[T] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            done.append(result)
        return done

    async def _apply_retrying(self, event: AgentEvent) -> str:
        """Apply one event, backing off on transient failures: 'applied', 'poison' or 'stopped'."""
        while True:
            try:
                data = event.data
                await self.apply(data.slug, data.locale, data.revision, int(event.sequence), data.etag)
                return "applied"
            except Transient as exc:
                if not await self.back_off(exc):
                    return "stopped"
            except PoisonEvent:
                return "poison"

    def reset_backoff(self) -> None:
        """Something worked: the next transient failure waits the shortest delay again."""
        self._delay = 0.0

    async def back_off(self, exc: Exception) -> bool:
        """Wait a jittered, growing delay after a transient failure; False when stopping."""
        if self._stop.is_set():
            return False
        self._delay = min(5.0, max(0.1, self._delay * 2))
        if self._retrying(exc, self._delay) and isinstance(exc, FileSystemError):
            # Say it in the state file too, if the folder still takes that one (one file refused, or a full disk
            # that frees up): the state records only what was written, so it is safe to save mid-batch.
            with contextlib.suppress(FileSystemError):
                await self._save_state()
        if self.state.health.mode is Mode.STREAM:
            await self.reporter.publish()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), random.uniform(self._delay / 2, self._delay))  # noqa: S311
        return not self._stop.is_set()

    async def _dead_letter(self, entry_id: bytes, fields: dict[bytes, bytes], reason: str) -> None:
        raw = fields.get(b"event", b"")[:MAX_EVENT_BYTES]
        # In the state first: a Redis that loses its data loses the dead-letter stream with it.
        self.keep_dead_letter(reason, raw, entry=entry_id.decode(errors="replace"))
        await self._save_state()
        await self.redis.xadd(
            self.dead_letters,
            {"entry": entry_id, "event": raw, "error": reason[:500], "consumer": self.consumer},
            maxlen=10_000,
            approximate=True,
        )
        await self.redis.xack(self.stream, self.group, entry_id)
        logger.error("agent %s: entry %s moved to %s: %s", self.site, entry_id.decode(), self.dead_letters, reason)

    def keep_dead_letter(self, reason: str, raw: bytes, entry: str | None = None, sequence: int | None = None) -> None:
        """Record an event given up on in the state (saved with the state's next save)."""
        letter = dead_letter(reason, raw, entry=entry, sequence=sequence)
        self.state.dead_letters = keep_dead_letter(self.state.dead_letters, letter)
        self.reporter.changed()

    # -- repair --------------------------------------------------------------------------

    async def repair(self, upto: int | None = None) -> None:
        """Apply the change feed from our last sequence (to ``upto``); full resync if it is too old."""
        while upto is None or self.state.last_sequence < upto:
            response = await self._get(
                "/v1/changes", params={"site": self.site, "after": self.state.last_sequence, "limit": 500}
            )
            if response.status == 410:
                await self.resync()
                return
            if response.status != 200:
                raise Transient(f"change feed answered {response.status}")
            try:
                feed = feed_decoder.decode(response.body)
            except msgspec.DecodeError as exc:
                raise Transient(f"change feed answer not readable: {exc}") from exc
            for raw in feed.events:
                if self._stop.is_set():
                    raise Transient("stopping")  # what was applied is saved; the rest comes after the restart
                sequence = await apply_feed_event(self, raw, upto)
                if sequence is None:
                    break
                self.state.last_sequence = sequence
            await self._save_state()
            if not feed.events or feed.next_after >= feed.head:
                if upto is not None and self.state.last_sequence < upto:
                    # The feed does not have them yet (not relayed): the stream will bring them.
                    self.state.last_sequence = upto
                return

    async def resync(self) -> None:
        """Rebuild every file from the page list (used when history is no longer available)."""
        head_response = await self._get("/v1/changes", params={"site": self.site, "after": MAX_SEQUENCE, "limit": 1})
        if head_response.status != 200:
            raise Transient(f"change feed answered {head_response.status}")
        head = feed_decoder.decode(head_response.body).head
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            params: dict[str, str | int] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            response = await self._get(f"/v1/sites/{quote(self.site, safe='')}/pages", params=params)
            if response.status != 200:
                raise Transient(f"page list answered {response.status}")
            page = page_list_decoder.decode(response.body)
            renders = [
                (summary.slug, locale, revision, summary.etags.get(locale))
                for summary in page.items
                for locale, revision in summary.locales.items()
            ]
            seen.update(f"{slug}.{locale}" for slug, locale, _, _ in renders)
            # Each (slug, locale) appears once in the list: they can be applied concurrently.
            await self._concurrently(self.apply(slug, locale, rev, head, etag) for slug, locale, rev, etag in renders)
            cursor = page.next_cursor
            if cursor is None:
                break
        for key in [k for k in self.state.pages if k not in seen]:
            slug, _, locale = key.rpartition(".")
            self._remove(slug, locale)
        self.state.last_sequence = max(self.state.last_sequence, head)
        await self._save_state()
        logger.info("agent %s: full resync done at sequence %d (%d page renders)", self.site, head, len(seen))

    # -- the consumer group ------------------------------------------------------------------

    async def ensure_group(self) -> None:
        """Create the group (and stream) positioned after what we already applied."""
        try:
            await self.redis.xgroup_create(self.stream, self.group, id=f"{self.state.last_sequence}-0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _read(self, entry_id: str, block: int | None) -> list[tuple[bytes, dict[bytes, bytes]]]:
        client = self.blocking_redis if block else self.redis
        try:
            reply: Any = await client.xreadgroup(
                self.group, self.consumer, {self.stream: entry_id}, count=READ_COUNT, block=block
            )
        except ResponseError as exc:
            # NOGROUP: the group is gone; UNBLOCKED: the stream was deleted while we waited on it.
            if "NOGROUP" not in str(exc) and "UNBLOCKED" not in str(exc):
                raise
            logger.warning("agent %s: consumer group gone (Redis lost data?); rebuilding from the feed", self.site)
            await self.ensure_group()
            await self.repair()
            return []
        entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        for _stream, items in reply or []:
            entries += [(eid, fields) for eid, fields in items if fields is not None]
        return entries

    async def _claim_idle(self) -> list[tuple[bytes, dict[bytes, bytes]]]:
        """Take over entries a dead agent of the same group left pending."""
        reply: Sequence[Any] = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, min_idle_time=self.claim_idle_ms, start_id="0-0", count=100
        )
        claimed = reply[1] if len(reply) > 1 else []
        return [(eid, fields) for eid, fields in claimed if fields is not None]

    async def run(self, stop: asyncio.Event) -> None:
        """Apply events until ``stop`` is set; the current event is finished and acknowledged first."""
        self._stop = stop
        self.state = self.state_file.load()
        # A new process finds its problems again (and says them once): the saved health was the last run's.
        self.state.health = AgentHealth()
        self.health = HealthLog(self.site, self.state.health)
        while not stop.is_set():
            try:
                self.out_dir.mkdir(parents=True, exist_ok=True)
                await asyncio.to_thread(remove_leftovers, self.out_dir)
                await self._start_pages()
                self.health.files_ok(self.out_dir)
                break
            except OSError as exc:
                if not await self.back_off(FileSystemError.of(exc, self.out_dir)):
                    return
        await self._consume(stop)
        logger.info("agent %s stopped at sequence %d", self.site, self.state.last_sequence)

    async def _consume(self, stop: asyncio.Event) -> None:
        block = blocking_read_ms(self.settings.redis_socket_timeout)
        started = False
        rounds = 0
        while not stop.is_set():
            try:
                if not started:
                    if self.state.last_sequence == 0 and not self.state.pages:
                        await self.resync()
                    await self.ensure_group()
                    # Our own pending entries first: delivered before a crash (or before Redis went away),
                    # never acknowledged; those the feed applied meanwhile are only acknowledged.
                    for entry_id, fields in await self._read("0", None):
                        await self.handle(entry_id, fields)
                    started = True
                    self.health.back_on_stream(self.state.last_sequence)
                if rounds % 20 == 0:
                    for entry_id, fields in await self._claim_idle():
                        await self.handle(entry_id, fields)
                rounds += 1
                await self.reporter.publish()
                entries = await self._read(">", block)
                if entries:
                    self.reset_backoff()
                    await self.handle_batch(entries)
                self.reset_backoff()
            except REDIS_DOWN as exc:
                # Not a file-system error: those are FileSystemError, which is no OSError.
                started = False
                await follow_feed(self, stop, f"{exc.__class__.__name__}: {exc}")
            except Transient as exc:
                started = started and not isinstance(exc, FileSystemError)  # its batch is pending: read it again
                await self.back_off(exc)
