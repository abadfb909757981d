"""`ConsolePlugin`: mounts the editor console on the content service (one line in ``http/app.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Router
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins import InitPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler

from services.content.console.assets import Assets
from services.content.console.browse import BrowseController
from services.content.console.config import ConsoleConfig
from services.content.console.controllers import ConsoleController, SessionController, asset_handler, not_found
from services.content.console.editor import EditorController
from services.content.console.errors import exception_handlers
from services.content.console.fact_pages import FactController
from services.content.console.history import HistoryController
from services.content.console.security import after_request, csrf_config
from services.content.console.session import provide_session_principal
from services.content.console.templating import environment
from services.content.console.translate import TranslateController
from services.content.http.pages import provide_delivery
from services.content.settings import Settings
from services.content.usecases.delivery import Delivery

CONTROLLERS: list[ControllerRouterHandler] = [
    SessionController,
    ConsoleController,
    BrowseController,
    FactController,
    TranslateController,
    HistoryController,
    EditorController,
]
"""Every controller of the console, mounted below ``/console`` (add a page's controller here)."""


def provide_renderer(state: State) -> Delivery:
    """The app's delivery service, under the console's own key (Litestar allows one key per provider)."""
    return provide_delivery(state)


class ConsolePlugin(InitPlugin):
    """The editor console at ``/console``: its router, templates, assets, CSRF and headers."""

    def __init__(self, config: ConsoleConfig, controllers: Sequence[ControllerRouterHandler] | None = None) -> None:
        self.config = config
        self.controllers = list(CONTROLLERS if controllers is None else controllers)
        self.assets = Assets()  # hashed once, when the app is built

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsolePlugin:
        """The console as ``settings`` configure it."""
        return cls(ConsoleConfig.from_settings(settings))

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Mount the console's router and set the app's template engine (Jinja2, autoescape on)."""
        csrf = csrf_config(self.config.csrf_secret, self.config.database_url, self.config.behind_https)
        router = Router(
            "/console",
            route_handlers=[*self.controllers, asset_handler(self.assets), not_found],
            # Here rather than on the app: the API, called with bearer tokens and no cookies, needs no CSRF token.
            middleware=[DefineMiddleware(CSRFMiddleware, config=csrf)],
            # The session's principal, under the name the API's handlers use for the bearer token's.
            # The renderer too (the translation screen's preview), under a key of its own: an app that
            # mounts the console with only ``db`` (tests' probe apps) still starts.
            dependencies={
                "principal": Provide(provide_session_principal, sync_to_thread=False),
                "renderer": Provide(provide_renderer, sync_to_thread=False),
            },
            after_request=after_request,
            exception_handlers=exception_handlers(),
            include_in_schema=False,
        )
        app_config.route_handlers.append(router)
        app_config.template_config = TemplateConfig(
            engine=JinjaTemplateEngine.from_environment(environment(self.assets))
        )
        app_config.state["console"] = self.config
        return app_config
