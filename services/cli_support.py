"""What every ``liaison`` command shares: settings, a database for one run, and readable errors."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from services.content.domain.errors import DomainError
from services.content.i18n import cli_catalog
from services.content.settings import Settings
from services.content.storage.database import Database

T = TypeVar("T")


def settings_from_env() -> Settings:
    """The LIAISON_* settings; a bad one ends the command with a readable message."""
    try:
        return Settings.from_env()
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def run_with_db(work: Callable[[Database], Awaitable[T]], settings: Settings | None = None) -> T:
    """Run ``work`` against the configured database, closing it after; a domain error ends the command.

    The error's message is printed in the user's language, followed by the segments or
    reasons it lists (translation imports), one per line.
    """
    database_url = (settings or settings_from_env()).database_url

    async def run() -> T:
        db = Database.from_url(database_url)
        try:
            return await work(db)
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except DomainError as exc:
        for fault in exc.context.get("segments") or []:
            click.echo(f"  {fault['id'] or '-'}: {fault['problem']}: {fault['detail']}", err=True)
        for reason in exc.context.get("reasons") or []:
            click.echo(f"  {reason}", err=True)
        raise click.ClickException(exc.message.format(cli_catalog())) from None


def wait_until_serving(url: str, server: subprocess.Popen[bytes], within: float = 20.0) -> bool:
    """Poll ``url`` until it answers 2xx (True), or ``server`` exits, or ``within`` seconds pass (False)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - a URL of our own server
                return True
        except OSError:  # refused, timed out, or an HTTP error status
            time.sleep(0.1)
    return False
