"""Fixtures of the console tests: a real server on a fresh seeded database, and Chromium driven by Playwright.

The browser is Debian's Chromium (``/usr/bin/chromium``, installed by ``make chromium`` and
``.ci/run``), started through ``executable_path``: Playwright's own browser download is never
used. One browser per test module; each test gets a fresh context (cookies, storage) and page.

Playwright's sync API keeps its event loop running in the test thread while it is started, so a
browser test module holds only sync tests with sync fixtures (``console_server``,
``seeded_database_url``; not ``db`` or ``client``), and the browser is closed at the end of the
module, before any async test elsewhere needs the thread's loop. Database set-up that runs an
event loop of its own is done in a worker thread (`off_the_loop`).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from services.content.console.config import ConsoleConfig
from tests.databases import DatabaseFactory
from tests.sync_support import LIAISON, Process, free_port, sync_env, test_redis_url, wait_http

T = TypeVar("T")
CHROMIUM = Path(os.environ.get("LIAISON_TEST_CHROMIUM", "/usr/bin/chromium"))


@dataclass
class ConsoleServer:
    """A ``liaison serve`` process: its base URL and the environment its commands need."""

    url: str
    env: dict[str, str]
    process: Process

    def create_token(self, role: str, *, name: str = "browser", sites: tuple[str, ...] = ()) -> str:
        """Create a token with the CLI, as an administrator does, and return its secret."""
        args = ["token", "create", "--name", name, "--role", role]
        for site in sites:
            args += ["--site", site]
        done = subprocess.run([*LIAISON, *args], env=self.env, capture_output=True, text=True, check=True, timeout=60)
        return done.stdout.strip()

    def revoke_token(self, token_id: int) -> None:
        """Revoke a token with the CLI."""
        subprocess.run(
            [*LIAISON, "token", "revoke", str(token_id)], env=self.env, capture_output=True, check=True, timeout=60
        )


@asynccontextmanager
async def console_client(
    app: Litestar, base_url: str = "http://testserver.local"
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """An in-process client that keeps cookies and, unlike a browser, shows redirects instead of following them."""
    async with AsyncTestClient(app=app, base_url=base_url, raise_server_exceptions=False) as test_client:
        test_client.follow_redirects = False
        yield test_client


@pytest.fixture
async def client(app: Litestar) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The console's in-process client (see `console_client`)."""
    async with console_client(app) as test_client:
        yield test_client


def off_the_loop(call: Callable[[], T]) -> T:
    """Run ``call`` in a worker thread (it may run an event loop, which Playwright's thread cannot)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(call).result()


@pytest.fixture
def seeded_database_url(databases: DatabaseFactory, tmp_path: Path) -> Iterator[str]:
    """A fresh database with the demo content, for a server process (no async fixture involved)."""
    url = off_the_loop(lambda: databases.clone("seeded", tmp_path / "console.db"))
    yield url
    off_the_loop(lambda: databases.drop(url))


@pytest.fixture
def console_server(seeded_database_url: str, tmp_path: Path) -> Iterator[ConsoleServer]:
    """``liaison serve`` on a free port, on this test's seeded database."""
    port = free_port()
    env = sync_env(seeded_database_url, test_redis_url(), port)
    process = Process(["serve", "--port", str(port)], env, tmp_path / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health/live")
        yield ConsoleServer(url=url, env=env, process=process)
    finally:
        process.terminate()
        process.close()


@pytest.fixture(scope="module")
def playwright(databases: DatabaseFactory) -> Iterator[Playwright]:
    """Playwright's driver (sync API), started after the database templates are made."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless (``make chromium`` installs it)."""
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: run `make chromium` (apt-get install chromium)"
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
    launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies), in English, at a desktop width."""
    fresh = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    fresh.set_default_timeout(15_000)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A tab of the fresh profile."""
    return context.new_page()


def sign_in(page: Page, server: ConsoleServer, secret: str) -> None:
    """Sign in through the form, as a person does, and wait for the sites page."""
    page.goto(f"{server.url}/console")
    page.get_by_label("Token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/console")


class Clock:
    """A settable clock for the console's sessions: tests age a session without waiting."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the time forward."""
        self.now += dt.timedelta(**delta)


@pytest.fixture
def clock(app: Litestar) -> Clock:
    """The in-process app's console clock, under the test's control."""
    fake = Clock()
    config: ConsoleConfig = app.state.console
    config.clock = fake
    return fake
