"""``shipyard serve``: registered models as an HTTP service (V2, MLflow, native JSON)."""

from __future__ import annotations

import os

import typer

from shipyard.core.errors import InvalidArgument, UntrustedCode
from shipyard.interfaces.cli.context import services, state
from shipyard.interfaces.cli.output import err_console


def serve(
    ctx: typer.Context,
    refs: list[str] = typer.Argument(
        None, help="Model references (churn@champion, churn/3), or NAME=REF to name the endpoint."
    ),
    deployment: list[str] = typer.Option(
        [], "--deployment", "-d", help="Serve a stored deployment (repeatable)."
    ),
    host: str = typer.Option("127.0.0.1", help="Interface to bind."),
    port: int = typer.Option(8000, min=0, max=65535),
    grpc_port: int | None = typer.Option(
        None, min=1, max=65535, help="Also serve the V2 gRPC protocol on this port."
    ),
    workers: int = typer.Option(1, min=1, help="Worker processes; each loads every model once."),
    name: str | None = typer.Option(None, "--name", help="Endpoint name (with a single REF)."),
    batching: bool = typer.Option(
        True,
        "--batching/--no-batching",
        help="Adaptive batching: merges concurrent requests, adds no wait when one is alone.",
    ),
    max_batch_size: int = typer.Option(32, min=1, help="Most rows per predict call when batching."),
    max_wait_ms: float = typer.Option(5.0, min=0, max=10, help="Longest wait to fill a batch."),
    max_queue_rows: int = typer.Option(
        4096, min=1, help="Rows allowed to wait for a batch; beyond that 503 + Retry-After."
    ),
    max_body_mb: float = typer.Option(32.0, min=0.001, help="Largest request body accepted."),
    body_timeout: float = typer.Option(
        30.0, min=0.1, help="Seconds a request body may take to arrive (stalled uploads: 408)."
    ),
    poll_interval: float = typer.Option(
        0.2, min=0.05, help="Seconds between registry checks (SQLite; PostgreSQL notifies)."
    ),
    log_format: str = typer.Option("text", help="text or json."),
    log_level: str = typer.Option("info"),
    access_log: bool = typer.Option(False, "--access-log/--no-access-log"),
    controller: bool = typer.Option(
        True,
        "--controller/--no-controller",
        help="Run the controller (rollouts, monitors, policies) in this server: one per server, "
        "in its supervisor process, not one per worker.",
    ),
    log_predictions: bool = typer.Option(
        True, "--log/--no-log", help="Write every prediction to the prediction log (monitoring)."
    ),
    explain_sample: float = typer.Option(
        0.0,
        "--explain-sample",
        min=0.0,
        max=1.0,
        help="Share of requests (0..1) whose explanation is logged with the prediction (audit).",
    ),
    backend: str = typer.Option("uvicorn", "--backend", help="uvicorn, or ray (Ray Serve)."),
    address: str | None = typer.Option(
        None, "--address", help="With --backend ray: auto, ray://host:10001 (default: local)."
    ),
    replicas: int = typer.Option(1, "--replicas", min=1, help="With --backend ray: replicas."),
    autoscale: str | None = typer.Option(
        None, "--autoscale", help="With --backend ray: MIN,MAX replicas on ongoing requests."
    ),
    strict_mlflow: bool = typer.Option(
        False,
        "--strict-mlflow",
        help="On /invocations, refuse extra columns and a non-object params (mlflow drops them).",
    ),
    open_predict: bool = typer.Option(
        False, "--open-predict", help="Predictions and feedback without a token."
    ),
    allowed_host: list[str] = typer.Option(
        [], "--allowed-host", help="Also accept this Host header (a name behind a proxy)."
    ),
    cors_origin: list[str] = typer.Option(
        [], "--cors-origin", help="Let this web origin call the API from a browser (CORS)."
    ),
    insecure_no_auth: bool = typer.Option(
        False, "--insecure-no-auth", help="Serve a non-loopback address without any token."
    ),
    protect_metrics: bool = typer.Option(
        False, "--protect-metrics", help="Require a token for /metrics on loopback too."
    ),
    ignore_audit_chain: bool = typer.Option(
        False, "--ignore-audit-chain", help="Start even if the audit chain does not verify."
    ),
    allow_code: bool = typer.Option(
        False,
        "--allow-code",
        help="Run the own Python code of packages not recorded with `shipyard trust`.",
    ),
) -> None:
    """Serve models; follows their aliases and swaps new versions in without downtime."""
    from shipyard.interfaces.http import server
    from shipyard.interfaces.http.auth import startup_checks
    from shipyard.interfaces.http.config import (
        ServeConfig,
        endpoint_for_deployment,
        endpoint_from_arg,
    )
    from shipyard.interfaces.http.logs import check_logging

    refs = refs or []
    if not refs and not deployment:
        raise InvalidArgument("name at least one model reference or --deployment")
    if name is not None and len(refs) != 1:
        raise InvalidArgument("--name names a single endpoint; use NAME=REF for several")
    if backend not in ("uvicorn", "ray"):
        raise InvalidArgument(f"--backend must be uvicorn or ray, got {backend!r}")
    check_logging(log_format, log_level)
    endpoints = [endpoint_from_arg(r, name) for r in refs]
    endpoints += [endpoint_for_deployment(d) for d in deployment]
    names = [e.name for e in endpoints]
    if len(set(names)) != len(names):
        raise InvalidArgument(
            f"two endpoints share a name in {names}; use NAME=REF to tell them apart"
        )
    if grpc_port is not None:
        if grpc_port == port:
            raise InvalidArgument(f"--grpc-port {grpc_port} is also the HTTP --port")
        from shipyard.interfaces.grpc.server import require_grpc

        require_grpc()  # the install hint now, not from inside each worker
    sock = server.listen(host, port)  # a busy port fails now, before any model loads
    try:
        if controller:  # a bad project file fails now, not later in a worker
            services(ctx).project()
        deployments = services(ctx).deployments
        registry = services(ctx).registry
        for e in endpoints:  # a reference to nothing, or to untrusted code, fails now too
            for target in deployments.resolve(e.name, e.ref).spec.targets():
                version = registry.resolve(target)
                if not registry.code_allowed(version, allow_code=allow_code or None):
                    raise UntrustedCode(
                        f"{version.ref} runs its own Python code when loaded and is not trusted; "
                        f"review it, then run: shipyard trust {version.name} {version.version} "
                        "(or serve with --allow-code, or SHIPYARD_ALLOW_CODE=1)"
                    )
    except BaseException:
        sock.close()
        raise
    config = ServeConfig(
        endpoints=endpoints,
        batching=batching,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_queue_rows=max_queue_rows,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        body_timeout=body_timeout,
        poll_interval=poll_interval,
        log_predictions=log_predictions,
        explain_sample=explain_sample,
        controller=controller,
        strict_mlflow=strict_mlflow,
        host=host,
        allowed_hosts=allowed_host,
        cors_origins=cors_origin,
        open_predict=open_predict,
        insecure_no_auth=insecure_no_auth,
        protect_metrics=protect_metrics,
        ignore_audit_chain=ignore_audit_chain,
        allow_code=allow_code,
        grpc_port=grpc_port,
    )
    startup_checks(services(ctx), config)  # refuse before binding a port, with the reason
    for key, value in state(ctx).overrides.items():  # workers read settings from the environment
        os.environ[f"SHIPYARD_{key.upper()}"] = str(value)
    served = ", ".join(f"{e.name} ({e.ref or 'deployment'})" for e in endpoints)
    if backend == "ray":
        from shipyard.interfaces.http import ray_serve

        options = ray_serve.RayServeOptions(
            replicas=replicas, autoscale=ray_serve.parse_autoscale(autoscale)
        )
        sock.close()  # Ray Serve's proxy binds the port
        env = {k: v for k, v in os.environ.items() if k.startswith("SHIPYARD_")}
        err_console.print(f"serving {served} on Ray Serve at http://{host}:{port}")
        ray_serve.run(config, env, options, host=host, port=port, address=address)
        return
    grpc_note = f" and gRPC on {host}:{grpc_port}" if grpc_port is not None else ""
    err_console.print(
        f"serving {served} on http://{host}:{sock.getsockname()[1]}{grpc_note} with "
        f"{workers} worker(s); docs at /docs, metrics at /metrics",
        markup=False,
    )
    server.run(
        config,
        sock=sock,
        workers=workers,
        log_format=log_format,
        log_level=log_level,
        access_log=access_log,
    )
