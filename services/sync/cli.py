"""``liaison sync ...`` and ``liaison agent``: the relay and the site agent on the command line."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from services.cli_support import console, open_database, pass_settings, print_json, print_table, readable
from services.content.i18n import cli_gettext as _
from services.content.settings import Settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from services.content.storage.database import Database

T = TypeVar("T")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The factory of uvloop's event loop when it is installed (it comes with uvicorn[standard]), else None.

    The relay and the agents are long-running and busy with many small network
    reads and writes, where uvloop's loop costs markedly less CPU than asyncio's.
    """
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_on_fast_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on uvloop, or on asyncio's loop when uvloop is missing."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT, for a graceful stop between two units of work."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    return stop


@click.group("sync")
def sync() -> None:
    """The relay that moves change events from the database to Redis, and its tools."""


@asynccontextmanager
async def database_and_redis(settings: Settings) -> AsyncIterator[tuple[Database, Redis]]:
    """The database and a Redis client of one command, both closed when it ends."""
    from services.redis_client import make_redis

    db = open_database(settings)
    redis = make_redis(settings.redis_url, settings.redis_socket_timeout)
    try:
        yield db, redis
    finally:
        await redis.aclose()
        await db.close()


@sync.command("run")
@pass_settings
def sync_run(settings: Settings) -> None:
    """Run the relay (one active at a time; others wait for the lease). SIGTERM stops it cleanly."""
    from services.sync.relay import Relay

    async def main() -> None:
        async with database_and_redis(settings) as (db, redis):
            await Relay(settings, db, redis).run(stop_on_signals())

    run_on_fast_loop(main())


@sync.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@pass_settings
def sync_status_command(settings: Settings, as_json: bool) -> None:
    """Show the outbox backlog, last sequences, stream lengths, and consumer groups' pending and lag.

    Piped, the table is tab-separated lines under a header line.
    """
    from services.sync.status import GroupStatus, sync_status

    async def main() -> None:
        async with database_and_redis(settings) as (db, redis):
            status = await sync_status(settings, db, redis)
        if as_json:
            print_json(status)
            return
        age = f"{status.oldest_unrelayed_age_seconds:.1f}s" if status.oldest_unrelayed_age_seconds else "-"
        console.print(
            _("outbox backlog: {backlog} (oldest {age}); relay lease: {lease}").format(
                backlog=status.backlog, age=age, lease=status.relay_lease or _("none")
            ),
            markup=False,
        )
        if status.redis_error:
            console.print(_("Redis: {error}").format(error=status.redis_error), style="red", markup=False)
        rows: list[list[str]] = []
        for site in status.sites:
            groups: list[GroupStatus | None] = [*site.groups] or [None]
            rows.extend(
                [
                    site.site,
                    str(site.sequenced),
                    str(site.relayed),
                    str(site.stream_length if site.stream_length is not None else "-"),
                    site.stream_last or "-",
                    group.name if group else "-",
                    str(group.pending) if group else "-",
                    str(group.lag) if group and group.lag is not None else "-",
                ]
                for group in groups
            )
        print_table(
            [
                _("site"),
                _("sequenced"),
                _("relayed"),
                _("stream length"),
                _("stream last"),
                _("group"),
                _("pending"),
                _("lag"),
            ],
            rows,
        )
        agents = [
            [
                site.site,
                report.consumer,
                report.health.mode,
                str(report.last_sequence),
                report.health.files_error or report.health.api_error or report.health.redis_error or "-",
                str(len(report.dead_letters)) + (f" ({report.dead_letters[-1].reason})" if report.dead_letters else ""),
            ]
            for site in status.sites
            for report in site.agents
        ]
        if agents:
            headers = [_("site"), _("agent"), _("events from"), _("applied"), _("problem"), _("dead letters")]
            print_table(headers, agents)

    asyncio.run(main())


@sync.command("check")
@click.option(
    "--max-backlog-age", type=float, default=300.0, show_default=True, help="Seconds before a backlog is unhealthy."
)
@pass_settings
def sync_check(settings: Settings, max_backlog_age: float) -> None:
    """Health check of the relay's world: database and Redis reachable, backlog not stuck. Exit 1 if not."""
    from services.sync.status import sync_status

    async def main() -> list[str]:
        problems: list[str] = []
        async with database_and_redis(settings) as (db, redis):
            try:
                status = await sync_status(settings, db, redis)
                await redis.ping()
                if (status.oldest_unrelayed_age_seconds or 0) > max_backlog_age:
                    age = f"{status.oldest_unrelayed_age_seconds:.0f}"
                    problems.append(_("oldest unrelayed event is {seconds}s old").format(seconds=age))
            except Exception as exc:  # a health check reports every failure the same way
                problems.append(readable(exc, settings))
        return problems

    problems = asyncio.run(main())
    if problems:
        raise click.ClickException("; ".join(problems))
    console.print(_("ok"))


@sync.command("replay")
@click.option("--site", required=True, help="Site key.")
@click.option("--from", "first", type=int, required=True, help="First sequence to republish.")
@click.option("--to", "last", type=int, help="Last sequence (default: the newest).")
@pass_settings
def sync_replay(settings: Settings, site: str, first: int, last: int | None) -> None:
    """Put a range of a site's events back into its stream where Redis lost them."""
    from rich.progress import Progress

    from services.sync.status import replay

    async def main() -> tuple[int, int, list[int]]:
        async with database_and_redis(settings) as (db, redis):
            with Progress(console=console, transient=True, disable=not console.is_terminal) as progress:
                task = progress.add_task(_("replaying {site}").format(site=site), total=None)
                return await replay(
                    settings,
                    db,
                    redis,
                    site,
                    first,
                    last,
                    lambda done, total: progress.update(task, completed=done, total=total),
                )

    added, present, refused = asyncio.run(main())
    console.print(
        _("re-added {added}, already present {present}, not re-addable {refused}").format(
            added=added, present=present, refused=len(refused)
        )
    )
    if refused:
        console.print(_("agents repair those from the change feed (GET /v1/changes)"))


@click.command("agent")
@click.option("--site", required=True, help="Site key whose pages to keep.")
@click.option(
    "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Folder to write into."
)
@click.option("--api", "api_url", help="Content API base URL (default LIAISON_PUBLIC_URL).")
@click.option("--consumer", help="Consumer name in the group (default host:pid).")
@click.option("--journal", type=click.Path(dir_okay=False, path_type=Path), help="Append a line per file written.")
@click.option(
    "--template",
    "template_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of the site template (page.html, index.html, liaison.css) for the complete pages.",
)
@pass_settings
def agent(
    settings: Settings,
    site: str,
    out_dir: Path,
    api_url: str | None,
    consumer: str | None,
    journal: Path | None,
    template_dir: Path | None,
) -> None:
    """Run a site agent: apply the site's change events to <out>/<slug>.<locale>.html and .json.

    Beside them: complete pages <out>/<locale>/<slug>.html, an index per locale and sitemap.xml.
    """
    from services.redis_client import make_redis
    from services.sync.agent import SiteAgent
    from services.sync.site_template import SiteTemplate, TemplateError

    try:
        template = SiteTemplate(template_dir)
    except TemplateError as exc:
        raise click.BadParameter(str(exc), param_hint="--template") from exc

    async def main() -> None:
        redis = make_redis(settings.redis_url, settings.redis_socket_timeout)
        blocking = make_redis(settings.redis_url, settings.redis_socket_timeout, max_connections=1)
        worker = SiteAgent(
            settings,
            site,
            out_dir,
            api_url or settings.public_url,
            redis,
            blocking,
            consumer=consumer,
            journal=journal,
            template=template,
        )
        try:
            await worker.run(stop_on_signals())
        finally:
            await worker.aclose()
            await redis.aclose()
            await blocking.aclose()

    run_on_fast_loop(main())
