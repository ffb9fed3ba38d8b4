"""The console alone (``shipyard ui``): its routes behind the same security middleware as the API,
over the registry, without serving any model."""

from __future__ import annotations

from starlette.applications import Starlette

from shipyard.app import Services
from shipyard.interfaces.console.render import Console
from shipyard.interfaces.console.routes import routes
from shipyard.interfaces.http.auth import SecurityMiddleware, startup_checks
from shipyard.interfaces.http.config import ServeConfig
from shipyard.interfaces.http.requestid import RequestIdMiddleware
from shipyard.interfaces.http.sessions import SessionStore


def install(app: Starlette, services: Services, sessions: SessionStore) -> None:
    """Make the console's shared state available to its routes in ``app``."""
    app.state.console = Console(services, sessions)


def create_console_app(services: Services, config: ServeConfig) -> Starlette:
    startup_checks(services, config)
    sessions = SessionStore()
    app = Starlette(routes=routes())
    install(app, services, sessions)
    app.add_middleware(
        SecurityMiddleware,
        services=services,
        config=config,
        routes=lambda: app.router.routes,
        sessions=sessions,
    )
    app.add_middleware(RequestIdMiddleware)
    return app
