"""``shipyard serve --backend ray``: each endpoint a Ray Serve deployment, behind one ingress.

Every endpoint is a deployment of its own (``shipyard-<endpoint>``), whose replicas build the app
exactly as a uvicorn worker does (``create_app`` over settings read from the replica's
environment), for that endpoint: routes, protocols, validation, batching, authentication, metrics
and the prediction log are the same code. Each replica follows the registry on its own (alias moves
and rollout weights reach every replica with the same load-then-swap) and writes its own log
segments to the shared log store. The ``shipyard`` ingress deployment routes requests to them and
retries or answers 503 for a replica lost mid-request (``ray_ingress``). Ray Serve restarts dead
replicas and scales each deployment on its ongoing requests with ``autoscale``. The controller
(rollouts, monitors, policies) runs once, in the process that deployed the application.

Ray is an optional extra (``pip install 'shipyard[ray]'``), imported here only.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette

from shipyard.core.errors import InvalidArgument, MissingDependency
from shipyard.interfaces.http.config import ENV_VAR, ServeConfig

APP_NAME = "shipyard"
REPLICA_CPUS = 0.5
"""CPUs an endpoint replica reserves: prediction runs in its threads; two fit a 1-CPU node."""
INGRESS_CPUS = 0.0
"""The ingress only waits on the endpoints' replicas: it reserves no CPU."""


@dataclass(frozen=True)
class RayServeOptions:
    replicas: int = 1
    autoscale: tuple[int, int] | None = None
    target_ongoing_requests: float = 8.0
    max_ongoing_requests: int = 64

    def __post_init__(self) -> None:
        if self.replicas < 1:
            raise InvalidArgument("--replicas must be at least 1")
        if self.autoscale is not None:
            low, high = self.autoscale
            if not 0 <= low <= high or high < 1:
                raise InvalidArgument(
                    f"--autoscale expects MIN,MAX with 0 <= MIN <= MAX and MAX >= 1, got {low},{high}"
                )


def parse_autoscale(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError as exc:
        raise InvalidArgument(f"--autoscale expects MIN,MAX (e.g. 1,4), got {text!r}") from exc
    return low, high


def import_serve() -> Any:
    try:
        import ray
        from ray import serve
    except ImportError as exc:
        raise MissingDependency("ray[serve]", "ray") from exc
    return ray, serve


def build_replica_app() -> Starlette:
    """Called in each replica: settings and serve config from the replica's environment."""
    from shipyard.app import build
    from shipyard.core.config import load_settings
    from shipyard.interfaces.http.app import create_app

    config = ServeConfig.model_validate_json(os.environ[ENV_VAR])
    app = create_app(build(load_settings()), config)
    # Load and warm before the replica counts as started: Serve routes to a replica once its
    # constructor returns, so a replica never answers "not ready" for a model it is loading.
    app.state.shipyard.dataplane.load_all()
    return app


def deployment_name(endpoint: str) -> str:
    return f"{APP_NAME}-{endpoint}"


def _scaling(options: RayServeOptions) -> dict[str, Any]:
    if options.autoscale is None:
        return {"num_replicas": options.replicas}
    return {
        "autoscaling_config": {
            "min_replicas": options.autoscale[0],
            "max_replicas": options.autoscale[1],
            "target_ongoing_requests": options.target_ongoing_requests,
        }
    }


def application(config: ServeConfig, env: dict[str, str], options: RayServeOptions) -> Any:
    """The Ray Serve application (not deployed): a deployment per endpoint, and the ingress."""
    _, serve = import_serve()
    from shipyard.interfaces.http.ray_ingress import EndpointReplica, Ingress

    # the controller runs in the deploying process; gRPC and multiprocess metrics are uvicorn's
    shared = config.model_copy(update={"controller": False, "metrics_dir": None, "grpc_port": None})
    endpoints = {}
    for endpoint in config.endpoints:
        one = shared.model_copy(update={"endpoints": [endpoint]})
        deployment = serve.deployment(
            EndpointReplica,
            name=deployment_name(endpoint.name),
            ray_actor_options={
                "num_cpus": REPLICA_CPUS,
                "runtime_env": {"env_vars": {**env, ENV_VAR: one.model_dump_json()}},
            },
            max_ongoing_requests=options.max_ongoing_requests,
            health_check_period_s=2,
            graceful_shutdown_timeout_s=20,
            **_scaling(options),
        )
        endpoints[endpoint.name] = deployment.bind()
    ingress = serve.deployment(
        Ingress,
        name=APP_NAME,
        ray_actor_options={"num_cpus": INGRESS_CPUS},
        max_ongoing_requests=options.max_ongoing_requests * len(endpoints),
        **_scaling(options),
    )
    return ingress.bind(endpoints, shared.model_dump_json())


def deploy(
    config: ServeConfig,
    env: dict[str, str],
    options: RayServeOptions,
    *,
    host: str,
    port: int,
    address: str | None = None,
) -> None:
    """Start (or join) Ray, start Serve's HTTP proxy on host:port, deploy, and wait until ready."""
    ray, serve = import_serve()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": host, "port": port})
    serve.run(application(config, env, options), name=APP_NAME, route_prefix="/")


def app_from_env() -> Any:
    """For KubeRay's ``serveConfigV2`` import path: refs from ``SHIPYARD_SERVE_REFS``."""
    from shipyard.interfaces.http.config import endpoint_from_arg

    refs = [r for r in os.environ.get("SHIPYARD_SERVE_REFS", "").split(",") if r]
    config = ServeConfig(endpoints=[endpoint_from_arg(r) for r in refs], controller=False)
    env = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
    return application(config, env, RayServeOptions())


def run(
    config: ServeConfig,
    env: dict[str, str],
    options: RayServeOptions,
    *,
    host: str,
    port: int,
    address: str | None = None,
) -> None:
    """``shipyard serve --backend ray``: deploy, run the controller here, block until interrupted."""
    from shipyard.interfaces.http.server import _start_controller

    deploy(config, env, options, host=host, port=port, address=address)
    controller = _start_controller(config.controller_tick) if config.controller else None
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if controller is not None:
            controller.stop()
        _, serve = import_serve()
        serve.shutdown()
