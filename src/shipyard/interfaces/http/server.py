"""Running the app under uvicorn: the worker factory and the process entry used by ``shipyard serve``.

The controller (rollouts, scheduled monitors, policies) runs once per server: in the process that
calls ``run`` — the uvicorn supervisor when there are several workers — never in the workers, which
are started with the controller off. A worker that uvicorn restarts therefore never starts another.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import socket
import tempfile
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from shipyard.core.errors import Conflict, InvalidArgument, Unavailable
from shipyard.interfaces.http.config import ENV_VAR, ServeConfig
from shipyard.interfaces.http.logs import configure_logging
from shipyard.interfaces.http.protocol import BoundedHttpToolsProtocol

if TYPE_CHECKING:
    from shipyard.lifecycle.controller import Controller

GRACEFUL_SHUTDOWN_S = 30
WORKER_HEALTHCHECK_S = 60
"""How long uvicorn's supervisor waits for a worker to start and to answer its pings. Its default
(5 s) is shorter than a worker's start (imports, registry, models) on a busy host, where it killed
and respawned workers in a loop without ever serving."""


def create_app_from_env() -> Starlette:
    """uvicorn factory (one call per worker): settings and the serve config from the environment."""
    from shipyard.app import build
    from shipyard.core.config import load_settings
    from shipyard.interfaces.http.app import create_app

    config = ServeConfig.model_validate_json(os.environ[ENV_VAR])
    return create_app(build(load_settings()), config)


def _start_controller(tick: float) -> Controller:
    from shipyard.app import build
    from shipyard.core.config import load_settings

    return build(load_settings()).controller(tick=tick).start()


def listen(host: str, port: int) -> socket.socket:
    """Bind ``host:port`` now (as uvicorn would), so a busy port fails before any model loads."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(
                f"port {port} on {host} is in use; stop what listens there or pick --port"
            ) from None
        raise InvalidArgument(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def run(
    config: ServeConfig,
    *,
    sock: socket.socket,
    workers: int = 1,
    log_format: str = "text",
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    """Serve on ``sock`` (from ``listen``): the models load in the workers, after the bind."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        config = config.model_copy(update={"metrics_dir": metrics_dir})
    log_config: dict[str, Any] = configure_logging(log_format, log_level)
    controller = _start_controller(config.controller_tick) if config.controller else None
    os.environ[ENV_VAR] = config.model_copy(update={"controller": False}).model_dump_json()
    host, port = sock.getsockname()[:2]
    uv_config = uvicorn.Config(
        "shipyard.interfaces.http.server:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config,
        access_log=access_log,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        server_header=False,
        http=BoundedHttpToolsProtocol,  # httptools, with a bound on the request head
        ws="none",  # no WebSocket routes: nor the websockets import
    )
    try:  # what uvicorn.run does, on the socket bound already
        if workers > 1:
            Multiprocess(uv_config, sockets=[sock]).run()
        else:
            server = uvicorn.Server(uv_config)
            server.run(sockets=[sock])
            if not server.started:
                raise Unavailable("the server did not start; see the log above")
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if controller is not None:
            controller.stop()
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        logging.shutdown()
