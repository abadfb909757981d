"""Console API benchmark: the document list of a site with 500 pages, and previews, on SQLite.

On a fresh demo database, it adds ``--pages`` pages to one site through the use cases (a
French source revision each, published; an English translation of every other one, and a
new source draft on every third, so the list has drafts ahead, outdated and missing
translations), then times, in process (the server's time for the request, HTTP routing and
encoding included, no network), each request ``--rounds`` times and prints p50 and p95:

- the console's first page of the site's list, and the same with each status filter and a text search;
- a preview of the seed page's draft revision, and of an unsaved body.

    python -m bench.console_api_bench --pages 500 --rounds 200
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from schemas.blocks import Paragraph, TextSpan
from schemas.documents import DocumentCreate, PublishRequest, RevisionCreate
from services.content.demo.loader import load_demo
from services.content.domain.access import Principal
from services.content.http.app import create_app
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.storage.migrate import upgrade
from services.content.usecases import documents, revisions
from services.content.usecases.tokens import create_token

SITE = "in-new-delhi"
AUTHOR = Principal.system("bench")


def _body(title: str, words: str, base: int | None = None, source: int | None = None) -> RevisionCreate:
    blocks = [Paragraph(id=f"p{index}", content=[TextSpan(text=f"{words} {index}")]) for index in range(6)]
    return RevisionCreate(title=title, blocks=blocks, base_revision=base, source_revision=source)  # type: ignore[arg-type]


async def _fill(db: Database, pages: int) -> None:
    for index in range(pages):
        page = await documents.create_document(
            db, AUTHOR, DocumentCreate(kind="page", source_locale="fr", site=SITE, slug=f"page-{index}")
        )
        written = await revisions.create_revision(db, AUTHOR, page.id, "fr", _body(f"Page {index}", "Texte"), None)
        await revisions.publish(db, AUTHOR, page.id, "fr", PublishRequest(revision=written.revision.number))
        if index % 2 == 0:
            await revisions.create_revision(
                db, AUTHOR, page.id, "en", _body(f"Page {index} (en)", "Text", source=1), None
            )
        if index % 3 == 0:
            await revisions.create_revision(db, AUTHOR, page.id, "fr", _body(f"Page {index}", "Nouveau", base=1), None)


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[max(0, int(len(ordered) * 0.95) - 1)]


async def _time(
    client: AsyncTestClient[Any], headers: dict[str, str], rounds: int, method: str, path: str, **kw: Any
) -> str:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.request(method, path, headers=headers, **kw)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text}")
    p50, p95 = _percentiles(samples)
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms"


async def _run(url: str, pages: int, rounds: int) -> None:
    db = Database.from_url(url)
    await load_demo(db)
    started = time.perf_counter()
    await _fill(db, pages)
    print(f"{pages} pages written in {time.perf_counter() - started:.1f} s")
    token = await create_token(db, "bench", "editor", [SITE], None)
    headers = {"Authorization": f"Bearer {token.secret}"}
    app = create_app(Settings(database_url=url), db=db)
    async with AsyncTestClient(app=app) as client:
        seed = (
            await client.get("/v1/documents", params={"site": SITE, "q": "internal-security"}, headers=headers)
        ).json()
        seed_id = seed["items"][0]["id"]
        draft = await revisions.create_revision(
            db,
            AUTHOR,
            seed_id,
            "fr",
            _body("Brouillon", "Brouillon", base=seed["items"][0]["locales"][0]["head_revision"]),
            None,
        )
        cases: list[tuple[str, str, str, dict[str, Any]]] = [
            ("list, first page of 50", "GET", "/v1/documents", {"params": {"site": SITE}}),
            ("list, draft-ahead", "GET", "/v1/documents", {"params": {"site": SITE, "status": "draft-ahead"}}),
            ("list, unpublished", "GET", "/v1/documents", {"params": {"site": SITE, "status": "unpublished"}}),
            (
                "list, translation-outdated",
                "GET",
                "/v1/documents",
                {"params": {"site": SITE, "status": "translation-outdated"}},
            ),
            (
                "list, translation-missing",
                "GET",
                "/v1/documents",
                {"params": {"site": SITE, "status": "translation-missing"}},
            ),
            ("list, q (no match: scans all)", "GET", "/v1/documents", {"params": {"site": SITE, "q": "zzz"}}),
            ("list, 200 per page", "GET", "/v1/documents", {"params": {"site": SITE, "limit": 200}}),
            (
                "preview, seed draft",
                "GET",
                f"/v1/documents/{seed_id}/variants/fr/revisions/{draft.revision.number}/preview",
                {},
            ),
            (
                "preview, unsaved body",
                "POST",
                f"/v1/documents/{seed_id}/variants/fr/preview",
                {
                    "json": {
                        "title": "Brouillon",
                        "blocks": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}],
                    }
                },
            ),
        ]
        for name, method, path, kw in cases:
            await _time(client, headers, 5, method, path, **kw)  # warm up
            print(f"{name:32} {await _time(client, headers, rounds, method, path, **kw)}")
    await db.close()


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=200)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="liaison-console-bench-"))
    url = f"sqlite+aiosqlite:///{folder}/bench.db"
    upgrade(url)  # before the event loop: Alembic's env runs one of its own
    asyncio.run(_run(url, options.pages, options.rounds))


if __name__ == "__main__":
    main()
