"""A refusal or a mistake in a console page reads as a sentence that says what to do, in the page's language."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from services.content.console.config import ConsoleConfig
from services.content.console.controllers import SignedInController
from services.content.console.plugin import CONTROLLERS, ConsolePlugin
from services.content.console.security import CONTENT_SECURITY_POLICY
from services.content.domain.access import Action
from services.content.domain.errors import NotFound
from services.content.domain.messages import N_, Message
from services.content.http.dependencies import Caller, provide_db
from services.content.storage.database import Database
from tests.conftest import TokenFactory
from tests.console.support import secret_of, sign_in


class Probe(SignedInController):
    """Pages that fail the way real ones can: a refused action, a missing thing, a bug."""

    path = "/probe"

    @get("/publish")
    async def publish(self, principal: Caller) -> str:
        principal.require(Action.PUBLISH, site="np-kathmandu")
        return "published"

    @get("/missing")
    async def missing(self) -> str:
        raise NotFound(Message(N_("site '{site}' does not exist"), site="xx-nowhere"))

    @get("/bug")
    async def bug(self) -> str:
        raise RuntimeError("a secret detail that must not reach the page")


@pytest.fixture
async def probe_client(database_url: str, db: Database) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar(
        plugins=[ConsolePlugin(ConsoleConfig(database_url=database_url), controllers=[*CONTROLLERS, Probe])],
        dependencies={"db": Provide(provide_db, sync_to_thread=False)},
        state=State({"db": db}),
        logging_config=None,
    )
    async with AsyncTestClient(app=app, raise_server_exceptions=False) as client:
        client.follow_redirects = False
        yield client


async def test_a_refused_action_is_a_403_page_that_says_what_to_do(
    probe_client: AsyncTestClient[Litestar], make_token: TokenFactory
) -> None:
    await sign_in(probe_client, secret_of(await make_token("reader", name="Rose")))
    english = await probe_client.get("/console/probe/publish")
    assert english.status_code == 403
    assert english.headers["content-type"].startswith("text/html")
    assert english.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "token &#39;Rose&#39; (role reader) may not publish on site &#39;np-kathmandu&#39;" in english.text
    assert "Ask an administrator for a token with the role or sites you need." in english.text
    assert "Signed in as <strong>Rose</strong> (reader)" in english.text

    french = await probe_client.get("/console/probe/publish", headers={"Accept-Language": "fr"})
    assert '<html lang="fr">' in french.text
    assert "Demandez à un administrateur un jeton" in french.text


async def test_a_missing_thing_is_a_404_page_and_a_bug_a_500_page_without_its_trace(
    probe_client: AsyncTestClient[Litestar], make_token: TokenFactory
) -> None:
    await sign_in(probe_client, secret_of(await make_token("editor")))
    missing = await probe_client.get("/console/probe/missing")
    assert missing.status_code == 404
    assert "site &#39;xx-nowhere&#39; does not exist" in missing.text
    assert "Check the address" in missing.text
    bug = await probe_client.get("/console/probe/bug")
    assert bug.status_code == 500
    assert "The service could not show this page." in bug.text
    assert "secret detail" not in bug.text
    assert "Traceback" not in bug.text
    unknown = await probe_client.get("/console/no/such/page")
    assert unknown.status_code == 404
    assert unknown.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "There is no such page in the console." in unknown.text


async def test_without_a_session_a_probe_page_sends_to_sign_in(probe_client: AsyncTestClient[Litestar]) -> None:
    response = await probe_client.get("/console/probe/publish", headers={"HX-Request": "true"})
    assert response.status_code == 303
    assert response.headers["hx-redirect"] == "/console/sign-in?next=/console/probe/publish"
