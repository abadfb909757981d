"""Console browse benchmark: the console's page of a site with 500 pages, and the facts pages, on SQLite.

Fills the demo database as ``bench/console_api_bench.py`` does (drafts ahead, outdated and
missing translations among the pages), signs in through the console's form, then times, in
process, each page ``--rounds`` times and prints p50 and p95. The site's page calls the
document-list use case twice (the table, the shared fragments) and `status_counts` once (the
"needs attention" panel).

    python -m bench.console_browse_bench --pages 500 --rounds 100
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from bench.console_api_bench import SITE, _fill, _percentiles
from services.content.demo.loader import load_demo
from services.content.http.app import create_app
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.migrate import upgrade
from services.content.usecases.tokens import create_token

CSRF = re.compile(r'name="_csrf_token" value="([^"]*)"')


async def _time(client: AsyncTestClient[Any], rounds: int, path: str, **kw: Any) -> str:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.get(path, **kw)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")
    p50, p95 = _percentiles(samples)
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms"


async def _run(url: str, pages: int, rounds: int) -> None:
    db = Database.from_url(url)
    await load_demo(db)
    await _fill(db, pages)
    token = await create_token(db, "bench", "editor", None, None)
    app = create_app(Settings(database_url=url), db=db)
    async with AsyncTestClient(app=app) as client:
        form = await client.get("/console/sign-in")
        found = CSRF.search(form.text)
        assert found
        signed = await client.post("/console/sign-in", data={"token": token.secret, "_csrf_token": found.group(1)})
        assert signed.status_code == 200, signed.text[:300]  # the redirect followed to the sites page
        cases: list[tuple[str, str, dict[str, Any]]] = [
            ("site page (table + attention)", f"/console/sites/{SITE}", {}),
            (
                "site page, htmx table, q",
                f"/console/sites/{SITE}",
                {"params": {"q": "page-4"}, "headers": {"HX-Request": "true"}},
            ),
            ("site page, translation-missing", f"/console/sites/{SITE}", {"params": {"status": "translation-missing"}}),
            ("global facts", "/console/facts", {}),
            ("site facts", f"/console/sites/{SITE}/facts", {}),
        ]
        for name, path, kw in cases:
            await _time(client, 3, path, **kw)  # warm up
            print(f"{name:34} {await _time(client, rounds, path, **kw)}")
    await db.close()


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=100)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="liaison-console-browse-bench-"))
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    upgrade(url)
    asyncio.run(_run(url, options.pages, options.rounds))


if __name__ == "__main__":
    main()
