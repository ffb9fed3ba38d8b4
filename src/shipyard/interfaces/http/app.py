"""The ASGI application: Starlette routes for every protocol over one data plane."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response

from shipyard.app import Services
from shipyard.interfaces.http import admin, feedback, management, mlflow, native, registry_api, v2
from shipyard.interfaces.http.auth import SecurityMiddleware, startup_checks
from shipyard.interfaces.http.config import ServeConfig
from shipyard.interfaces.http.requestid import RequestIdMiddleware
from shipyard.interfaces.http.responses import json_response
from shipyard.interfaces.http.state import ServerState
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.follower import RegistryFollower
from shipyard.serving.metrics import ServingMetrics


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_response({"error": f"no route {request.method} {request.url.path}"}, status=404)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return json_response(
        {"error": f"{request.method} is not allowed on {request.url.path}"}, status=405
    )


def create_app(services: Services, config: ServeConfig) -> Starlette:
    startup_checks(services, config)  # no public bind without tokens; an intact audit chain
    metrics = ServingMetrics(multiprocess_dir=config.metrics_dir)
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
    )
    follower = RegistryFollower(dataplane, interval=config.poll_interval)
    state = ServerState(
        config=config,
        dataplane=dataplane,
        follower=follower,
        metrics=metrics,
        feedback=services.feedback if writer is not None else None,
        flush_log=writer.flush if writer is not None else None,
        services=services,
    )

    controller = services.controller(tick=config.controller_tick) if config.controller else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        follower.start()  # loads and warms in the background; readiness turns green after
        if controller is not None:
            controller.start()
        try:
            yield
        finally:
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
        ],
        lifespan=lifespan,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )
    app.state.shipyard = state
    app.add_middleware(
        SecurityMiddleware, services=services, config=config, routes=lambda: app.router.routes
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
