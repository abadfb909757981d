"""The app factory: ``create_app(settings)`` builds the Litestar application."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.static_files import create_static_files_router
from swagger_ui_bundle import swagger_ui_path

from services.content import i18n
from services.content.console.plugin import ConsolePlugin
from services.content.doorbell import Doorbell
from services.content.http.allow import complete_allow
from services.content.http.changes import ChangeController
from services.content.http.dependencies import provide_db, provide_principal
from services.content.http.documents import DocumentController
from services.content.http.facts import FactController
from services.content.http.json_bodies import JSONRequest
from services.content.http.observability import live, metrics, observability_middleware, ready
from services.content.http.openapi import (
    ASSETS_PATH,
    SCHEMA_PAGE_POLICY,
    STATIC_DIRECTORY,
    ExactJsonRenderPlugin,
    OfflineSwaggerPlugin,
    refuse_unknown_schema_paths,
)
from services.content.http.pages import PageController, provide_delivery
from services.content.http.preview import PreviewController
from services.content.http.problems import exception_handlers
from services.content.http.sites import SiteController
from services.content.http.translation_files import TranslationFileController
from services.content.settings import Settings
from services.content.storage.database import Database
from services.content.usecases.delivery import Delivery
from services.content.usecases.render_cache_sync import RenderCacheSync
from services.logging_setup import AccessLog
from services.redis_client import make_redis

logger = logging.getLogger("liaison.app")

API_VERSION = "1.0.0"


def create_app(settings: Settings, db: Database | None = None) -> Litestar:
    """Build the content service for ``settings``.

    ``db`` lets tests share a database with the app; by default one is created
    from ``settings.database_url`` at start-up and closed at shutdown.
    """
    access_log = AccessLog()

    @asynccontextmanager
    async def access_logging(_app: Litestar) -> AsyncIterator[None]:
        access_log.start()
        try:
            yield
        finally:
            access_log.stop()
            logger.info("application shutdown complete")

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = db is None
        i18n.catalogs()  # load (or compile) the gettext catalogs now rather than on the first request
        app.state.db = db if db is not None else Database.from_url(settings.database_url)
        app.state.public_url = settings.public_url
        # Eager: a change is rendered as it is written, so its events carry their ETags from the
        # start and the site agents' fetches that follow find the renders ready.
        app.state.delivery = Delivery(
            app.state.db, settings.public_url, f"public, max-age={settings.cache_max_age}", eager=True
        )
        cache_sync = RenderCacheSync(app.state.db, app.state.delivery.changed_elsewhere, app.state.delivery.cache.clear)
        await cache_sync.start()
        app.state.stream_prefix = settings.stream_prefix
        app.state.redis = None
        doorbell = None
        if settings.redis_url:
            app.state.redis = make_redis(settings.redis_url, settings.redis_socket_timeout, max_connections=4)
            doorbell = Doorbell(make_redis(settings.redis_url, settings.redis_socket_timeout, max_connections=2))
            app.state.db.on_commit(doorbell.ring)
            doorbell.start()
        try:
            yield
        finally:
            await cache_sync.stop()
            await app.state.delivery.stop()
            if doorbell is not None:
                await doorbell.stop()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            if owned:
                await app.state.db.close()

    app = Litestar(
        route_handlers=[
            SiteController,
            DocumentController,
            PreviewController,
            FactController,
            PageController,
            ChangeController,
            TranslationFileController,
            live,
            ready,
            metrics,
        ],
        dependencies={
            "db": Provide(provide_db, sync_to_thread=False),
            "principal": Provide(provide_principal),
            "delivery": Provide(provide_delivery, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        request_class=JSONRequest,
        plugins=[ConsolePlugin.from_settings(settings)],  # the editor console at /console
        lifespan=[access_logging, lifespan],
        request_max_body_size=settings.max_body_bytes,
        debug=settings.debug,
        logging_config=None,  # logging is configured once per process by services.logging_setup
        openapi_config=OpenAPIConfig(
            title="Liaison content API",
            version=API_VERSION,
            description=(
                "Versioned bilingual embassy pages and typed facts. Errors are RFC 9457 problems "
                "(application/problem+json) whose `type` is a stable `urn:liaison:problem:<name>`."
            ),
            path="/schema",
            use_handler_docstrings=True,
            # Swagger UI at /schema and /schema/swagger, from files the service serves itself.
            render_plugins=[OfflineSwaggerPlugin(path=["/", "/swagger"]), ExactJsonRenderPlugin()],
            openapi_router=Router(
                "/schema",
                route_handlers=[
                    create_static_files_router(
                        ASSETS_PATH.removeprefix("/schema"),
                        directories=[STATIC_DIRECTORY, swagger_ui_path],
                        name="schema-assets",
                    )
                ],
                include_in_schema=False,
                before_request=refuse_unknown_schema_paths,
                response_headers=[ResponseHeader(name="Content-Security-Policy", value=SCHEMA_PAGE_POLICY)],
            ),
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(
                        type="http", scheme="bearer", description="A token from `liaison token create`"
                    )
                }
            ),
        ),
    )
    # Outermost, around Litestar's exception handling and router, rather than a route middleware:
    # requests no route matches (404, 405) and errors turned into problems are counted and carry
    # their request id too.
    app.asgi_handler = observability_middleware(complete_allow(app, app.asgi_handler), access_log)
    app.state.metrics_token = settings.metrics_token
    return app
