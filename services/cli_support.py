"""What every ``liaison`` command shares: settings, a database for one run, output, and one-line errors.

Importing this module (and the command modules) stays cheap: ``liaison --help`` must not load
SQLAlchemy, Redis, aiohttp or Litestar, so each command imports what it uses when it runs.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table

from services.content.i18n import cli_catalog
from services.content.i18n import cli_gettext as _
from services.content.settings import Settings

if TYPE_CHECKING:
    from services.content.storage.database import Database

T = TypeVar("T")
P = ParamSpec("P")


def settings_from_env() -> Settings:
    """The LIAISON_* settings; a bad one ends the command with a readable message."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def cli_settings() -> Settings:
    """The settings of this run of ``liaison``: read once, when a command first needs them, logging set up then.

    Kept on the root context, so ``--help`` works whatever the environment holds.
    """
    context = click.get_current_context(silent=True)
    root = context.find_root() if context is not None else None
    if root is not None and isinstance(root.obj, Settings):
        return root.obj
    settings = settings_from_env()
    from services.logging_setup import configure_logging

    configure_logging(settings.log_format)
    if root is not None:
        root.obj = settings
    return settings


def pass_settings(command: Callable[Concatenate[Settings, P], T]) -> Callable[P, T]:
    """Decorator: call the command with `cli_settings` as its first argument."""

    @functools.wraps(command)
    def with_settings(*args: P.args, **kwargs: P.kwargs) -> T:
        return command(cli_settings(), *args, **kwargs)

    return with_settings


# -- errors ---------------------------------------------------------------------------------------


class LiaisonGroup(click.Group):
    """The root command group: whatever a command raises ends as one readable line and exit code 1.

    Known causes (a missing or unmigrated database, Redis down, a refused request) say what
    to do; anything else says its type and message. ``LIAISON_DEBUG=true`` shows the traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command, turning its errors into a `click.ClickException`."""
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:
            settings = ctx.obj if isinstance(ctx.obj, Settings) else None
            if settings is not None and settings.debug:
                raise
            raise click.ClickException(readable(exc, settings)) from None


def readable(exc: BaseException, settings: Settings | None = None) -> str:
    """One line saying what went wrong and what to do about it (in the user's language)."""
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    from services.content.domain.errors import DomainError

    if isinstance(exc, DomainError):
        # Translation imports list each segment at fault, one per line, before the summary.
        for fault in exc.context.get("segments") or []:
            click.echo(f"  {fault['id'] or '-'}: {fault['problem']}: {fault['detail']}", err=True)
        for reason in exc.context.get("reasons") or []:
            click.echo(f"  {reason}", err=True)
        return exc.message.format(cli_catalog())
    # Only modules a command imported can have raised: look them up instead of importing them.
    redis_errors = sys.modules.get("redis.exceptions")
    if redis_errors is not None and isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        url = redacted(settings.redis_url) if settings else "LIAISON_REDIS_URL"
        return _("Redis is unreachable at {url} ({reason}): start it, or set LIAISON_REDIS_URL").format(
            url=url, reason=network_reason(exc)
        )
    sqlalchemy_errors = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_errors is not None and isinstance(exc, sqlalchemy_errors.DBAPIError):
        url = redacted(settings.database_url) if settings else "LIAISON_DATABASE_URL"
        reason = first_line(exc.orig) if exc.orig is not None else first_line(exc)
        if _schema_missing(reason):
            return _("the database at {url} is not at the latest schema ({reason}): run `liaison migrate`").format(
                url=url, reason=reason
            )
        return _("cannot use the database at {url} ({reason}): is it running? Check LIAISON_DATABASE_URL").format(
            url=url, reason=network_reason(exc)
        )
    if isinstance(exc, OSError) and settings is not None and "sqlalchemy" in sys.modules:
        # asyncpg's connection errors (refused, unknown host) reach us unwrapped.
        return _("cannot use the database at {url} ({reason}): is it running? Check LIAISON_DATABASE_URL").format(
            url=redacted(settings.database_url), reason=network_reason(exc)
        )
    return _("{error}: {reason} (LIAISON_DEBUG=true shows the traceback)").format(
        error=type(exc).__name__, reason=first_line(exc)
    )


def _schema_missing(reason: str) -> bool:
    words = reason.lower()
    return any(
        sign in words
        for sign in ("no such table", "no such column", "undefinedtable", "undefinedcolumn", "does not exist")
    ) and not ("database" in words and "does not exist" in words)


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (SQLAlchemy appends the statement on further lines)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def network_reason(exc: BaseException) -> str:
    """The system's wording of a network failure ("Connection refused"), rather than a client library's."""
    import os

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            # Name lookups fail with negative codes that only their own text explains.
            return os.strerror(seen.errno) if seen.errno > 0 else str(seen.strerror)
        seen = seen.__cause__ or seen.__context__
    reason = getattr(exc, "orig", None) or exc
    return first_line(reason)


def redacted(url: str) -> str:
    """A database or Redis URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# -- the database ---------------------------------------------------------------------------------


def require_database(url: str) -> None:
    """Refuse a SQLite file that does not exist: only ``liaison migrate`` creates the database.

    Opening one would create an empty file, and the command would then fail on a missing table.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or database in (None, "", ":memory:") or "uri" in parsed.query:
        return
    path = Path(database)
    if not path.is_file():
        raise click.ClickException(
            _(
                "no database at {path} (LIAISON_DATABASE_URL is {url}): "
                "run `liaison migrate` (or `make run`) to create it, or run from the folder that has it"
            ).format(path=path.resolve(), url=url)
        )


def open_database(settings: Settings) -> Database:
    """The database of a command that needs it to exist (any command but ``liaison migrate``)."""
    require_database(settings.database_url)
    from services.content.storage.database import Database

    return Database.from_url(settings.database_url)


def run_with_db(work: Callable[[Database], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` against the configured database, closing it after.

    Its errors (a domain error, a missing table) are left to `LiaisonGroup`, which prints them.
    """
    import asyncio

    database = open_database(settings or cli_settings())

    async def run() -> T:
        try:
            return await work(database)
        finally:
            await database.close()

    return asyncio.run(run())


# -- the network ----------------------------------------------------------------------------------


def ensure_port_free(host: str, port: int) -> None:
    """End the command with one line when ``host:port`` cannot be listened on (another server holds it)."""
    import errno
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As uvicorn does: connections of a server that just stopped do not count as a holder.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    _(
                        "port {port} on {host} is already in use: stop what listens there, "
                        "or choose another port (--port or LIAISON_PORT)"
                    ).format(port=port, host=host)
                ) from None
            raise click.ClickException(
                _("cannot listen on {host}:{port} ({reason}): check LIAISON_HOST and LIAISON_PORT").format(
                    host=host, port=port, reason=exc.strerror or exc
                )
            ) from None


def wait_until_serving(url: str, server: subprocess.Popen[bytes], within: float = 20.0) -> bool:
    """Poll ``url`` until it answers 2xx (True), or ``server`` exits, or ``within`` seconds pass (False)."""
    import urllib.request

    deadline = time.monotonic() + within
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - a URL of our own server
                return True
        except OSError:  # refused, timed out, or an HTTP error status
            time.sleep(0.1)
    return False


# -- output ---------------------------------------------------------------------------------------

console = Console(soft_wrap=True)
"""Standard output. Lines are never wrapped (a pipe would get them cut at 80 columns)."""
errors = Console(stderr=True, soft_wrap=True)
"""Standard error, likewise."""


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Rows as a table on a terminal; piped, as tab-separated lines under a header line, nothing cut."""
    if console.is_terminal:
        table = Table(*headers)
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    for row in (headers, *rows):
        click.echo("\t".join(" ".join(cell.split()) or "-" for cell in row))


def print_json(value: object) -> None:
    """``value`` as one line of JSON (msgspec's encoding: RFC 3339 times)."""
    import msgspec

    click.echo(msgspec.json.encode(value).decode())
