"""`liaison dev` (what `make run` starts) as a test fixture: the API, the relay, the demo agent and the demo website.

Reusable by any test that needs the whole demo on free ports, the browser tests included.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.sync_support import PATIENCE, Process, free_port, sync_env, test_redis_url, wait_http


@dataclass(frozen=True)
class DevUrls:
    """Where a running `liaison dev` answers, and its demo agent's folder."""

    api: str
    """The content API's base URL (``http://127.0.0.1:<port>``)."""
    site: str
    """The demo website's base URL (``http://127.0.0.1:<port>``), serving ``out``."""
    out: Path
    """The demo agent's folder (``<tmp>/sites/in-new-delhi``)."""
    process: Process


def wait_for_page(url: str, within: float = PATIENCE) -> httpx.Response:
    """Poll ``url`` until it answers 200 (the agent has written the page); its response."""
    deadline = time.monotonic() + within
    while True:
        try:
            response = httpx.get(url, timeout=2, follow_redirects=True)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {within}s")
        time.sleep(0.05)


@contextmanager
def running_dev(tmp: Path, database_url: str, site: str = "in-new-delhi") -> Iterator[DevUrls]:
    """Start `liaison dev` on a migrated, seeded database, on free ports; stop it at the end.

    It returns once the API answers and the demo website serves the default locale's index
    (so the agent has written its first pages).
    """
    api_port, site_port = free_port(), free_port()
    env = sync_env(database_url, test_redis_url(), api_port)
    out = tmp / "sites"
    process = Process(
        ["dev", "--site", site, "--out", str(out), "--site-port", str(site_port)], env, tmp / "dev.log", cwd=tmp
    )
    urls = DevUrls(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{site_port}", out / site, process)
    try:
        wait_http(urls.api + "/health/live")
        wait_for_page(urls.site + "/")
        yield urls
    finally:
        process.terminate(timeout=60)
        process.close()
