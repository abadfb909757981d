"""`ConsolePlugin`: mounts the editor console on the content service (one line in ``http/app.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from litestar import Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.plugins import InitPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template import TemplateConfig
from litestar.types import ControllerRouterHandler

from services.content.console.assets import Assets
from services.content.console.config import ConsoleConfig
from services.content.console.controllers import ConsoleController, SessionController, asset_handler, not_found
from services.content.console.editor import EditorController
from services.content.console.errors import exception_handlers
from services.content.console.security import after_request, csrf_config
from services.content.console.session import provide_session_principal
from services.content.console.templating import environment
from services.content.settings import Settings

CONTROLLERS: list[ControllerRouterHandler] = [SessionController, ConsoleController, EditorController]
"""Every controller of the console, mounted below ``/console`` (add a page's controller here)."""


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
            dependencies={"principal": Provide(provide_session_principal, sync_to_thread=False)},
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
