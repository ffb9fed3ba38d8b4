"""The ASGI application: Starlette routes for every protocol over one data plane."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from shipyard.app import Services
from shipyard.core.errors import ShipyardError
from shipyard.interfaces.console.app import install as install_console
from shipyard.interfaces.console.routes import routes as console_routes
from shipyard.interfaces.http import admin, feedback, management, mlflow, native, registry_api, v2
from shipyard.interfaces.http.auth import SecurityMiddleware, startup_checks
from shipyard.interfaces.http.config import ServeConfig
from shipyard.interfaces.http.requestid import RequestIdMiddleware
from shipyard.interfaces.http.responses import client_disconnected, json_response, shipyard_error
from shipyard.interfaces.http.sessions import SessionStore
from shipyard.interfaces.http.state import ServerState
from shipyard.monitoring.gauges import MonitorCollector
from shipyard.monitoring.notifiers.webhook import WebhookNotifier, redact_url
from shipyard.package.model import Model
from shipyard.registry.access import Permission
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.follower import RegistryFollower
from shipyard.serving.metrics import ServingMetrics

log = logging.getLogger("shipyard.http")
GRPC_GRACE_S = 10.0
"""Seconds gRPC calls in flight get to finish at shutdown."""


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_response({"error": f"no route {request.method} {request.url.path}"}, status=404)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return json_response(
        {"error": f"{request.method} is not allowed on {request.url.path}"}, status=405
    )


def create_app(
    services: Services, config: ServeConfig, *, preloaded: Mapping[str, Model] | None = None
) -> Starlette:
    """The app of one worker; ``preloaded``: models already in memory, by package digest."""
    startup_checks(services, config)  # no public bind without tokens; an intact audit chain
    metrics = ServingMetrics(multiprocess_dir=config.metrics_dir)
    if config.allow_code:  # `serve --allow-code`: the operator decided for every served version
        services.registry.allow_code = True
    metrics.add_collector(MonitorCollector(services.monitoring.store))
    writer = services.log_writer() if config.log_predictions else None
    if writer is not None:
        writer.on_drop = metrics.log_dropped.inc
    dataplane = DataPlane(
        services.registry,
        services.deployments,
        config.specs(),
        metrics=metrics,
        threads=config.predict_threads,
        log_sink=writer.submit if writer is not None else None,
        explain_sample=config.explain_sample,
        preloaded=preloaded,
    )
    follower = RegistryFollower(dataplane, interval=config.poll_interval)
    state = ServerState(
        config=config,
        dataplane=dataplane,
        follower=follower,
        metrics=metrics,
        feedback=services.feedback_log(writer.flush) if writer is not None else None,
        services=services,
    )

    controller = services.controller(tick=config.controller_tick) if config.controller else None
    for notifier in services.monitoring.alerts.notifiers:
        if isinstance(notifier, WebhookNotifier) and not notifier.signed:
            log.warning(
                "webhook %s has no secret: its alerts are sent unsigned (set "
                "SHIPYARD_ALERT_WEBHOOK_SECRET or the notifier's 'secret')",
                redact_url(notifier.url),
            )
    grpc_service = None
    if config.grpc_port is not None:
        from shipyard.interfaces.grpc.service import InferenceService
        from shipyard.interfaces.http.auth import Gate

        gate = Gate(services, config)

        async def authenticate(
            metadata: Mapping[str, str], needed: frozenset[Permission]
        ) -> object:
            return await gate.admit(metadata.get("authorization"), needed)

        grpc_service = InferenceService(dataplane, metrics, authenticate=authenticate)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        follower.start()  # loads and warms in the background; readiness turns green after
        if controller is not None:
            controller.start()
        grpc_server = None
        if grpc_service is not None and config.grpc_port is not None:
            from shipyard.interfaces.grpc import server as grpc_server_module

            grpc_server = await grpc_server_module.start(
                grpc_service, config.host, config.grpc_port, config.max_body_bytes
            )
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server_module.stop(grpc_server, GRPC_GRACE_S)
            if controller is not None:
                controller.stop()
            follower.stop()
            await dataplane.close()
            if writer is not None:
                writer.close()  # flushes what is queued
            services.close()

    app = Starlette(
        routes=[
            *v2.routes,
            *mlflow.routes,
            *native.routes,
            *feedback.routes,
            *management.routes,
            *registry_api.routes,
            *admin.routes(),
            *console_routes(),
        ],
        lifespan=lifespan,
        exception_handlers={
            404: _not_found,
            405: _method_not_allowed,
            ShipyardError: shipyard_error,
            ClientDisconnect: client_disconnected,
        },
    )
    app.state.shipyard = state
    sessions = SessionStore()
    install_console(app, services, sessions)
    app.add_middleware(
        SecurityMiddleware,
        services=services,
        config=config,
        routes=lambda: app.router.routes,
        sessions=sessions,
    )
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(config.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["authorization", "content-type", "x-request-id"],
            expose_headers=["x-request-id", "x-model-name", "x-model-version"],
        )
    app.add_middleware(RequestIdMiddleware)
    return app
