"""Running the app under uvicorn: the worker factory and the process entry used by ``shipyard serve``.

The controller (rollouts, scheduled monitors, policies) runs once per server: in the process that
calls ``run`` — the uvicorn supervisor when there are several workers — never in the workers, which
are started with the controller off. A worker that uvicorn restarts therefore never starts another.

Several workers are forked, not spawned: the supervisor imports what a worker needs and loads every
served version once (``preload``), then forks the workers, which find those models loaded and share
their pages (and the imported modules') copy-on-write. The supervisor starts the controller only
after the first workers are forked, so that no thread of its runs while they are.
"""

from __future__ import annotations

import errno
import gc
import logging
import multiprocessing
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette

from shipyard.core.errors import Conflict, InvalidArgument, Unavailable
from shipyard.interfaces.http.config import ENV_VAR, ServeConfig
from shipyard.interfaces.http.logs import configure_logging
from shipyard.interfaces.http.protocol import BoundedHttpToolsProtocol

if TYPE_CHECKING:
    from uvicorn.supervisors import Multiprocess

    from shipyard.lifecycle.controller import Controller
    from shipyard.package.model import Model

GRACEFUL_SHUTDOWN_S = 30
WORKER_HEALTHCHECK_S = 60
"""How long uvicorn's supervisor waits for a worker to start and to answer its pings. Its default
(5 s) is shorter than a worker's start (imports, registry, models) on a busy host, where it killed
and respawned workers in a loop without ever serving."""


_PR_SET_PDEATHSIG = 1
_PRELOADED: dict[str, Model] = {}
"""Models loaded by the supervisor before it forked this worker, by package digest."""


def create_app_from_env() -> Starlette:
    """uvicorn factory (one call per worker): settings and the serve config from the environment."""
    from shipyard.app import build
    from shipyard.core.config import load_settings
    from shipyard.interfaces.http.app import create_app

    config = ServeConfig.model_validate_json(os.environ[ENV_VAR])
    if config.metrics_dir is not None:  # a worker of a supervisor
        _exit_with_supervisor()
    return create_app(build(load_settings()), config, preloaded=_PRELOADED)


def _exit_with_supervisor() -> None:
    """Ask Linux for SIGTERM when the supervisor dies (even by SIGKILL): no orphaned worker."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    supervisor = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def preload(config: ServeConfig) -> int:
    """Load every version the endpoints serve into this process, for the workers it will fork.

    Also imports what a worker imports, and freezes the collector's view of all of it (a full
    collection in a worker then never writes to these pages). Returns the number of models.
    """
    from shipyard.app import build
    from shipyard.core.config import load_settings
    from shipyard.interfaces.http import app as _worker_imports  # noqa: F401
    from shipyard.serving.dataplane import DataPlane

    services = build(load_settings())
    try:
        if config.allow_code:
            services.registry.allow_code = True
        dataplane = DataPlane(services.registry, services.deployments, config.specs(), threads=1)
        dataplane.load_all()
        for ep in dataplane.endpoints.values():
            for loaded in ep.table.loaded_versions() if ep.table is not None else ():
                _PRELOADED[loaded.version.digest] = loaded.model
        dataplane.executor.shutdown()
    finally:
        services.close()
    gc.collect()
    gc.freeze()
    return len(_PRELOADED)


def _fork_workers(uv_config: Any, sock: socket.socket, started: Callable[[], None]) -> Multiprocess:
    """uvicorn's supervisor, forking its workers; ``started`` runs once the first ones are."""
    from uvicorn import _subprocess
    from uvicorn.supervisors import Multiprocess

    _subprocess.spawn = multiprocessing.get_context("fork")  # type: ignore[assignment]

    class Supervisor(Multiprocess):
        def init_processes(self) -> None:
            super().init_processes()
            started()

    return Supervisor(uv_config, sockets=[sock])


def _use_metrics_dir(path: str) -> None:
    """Metrics created from now on in this process (and its forks) write to ``path``."""
    from prometheus_client import values

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]  # read at import


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

    from shipyard.package.flavors.sklearn import skip_default_trust

    skip_default_trust()  # this process only serves: skops's default trust list is never used
    metrics_dir = None
    log_config: dict[str, Any] = configure_logging(log_format, log_level)
    if workers > 1:
        preload(config)  # before the metrics directory: no file of this process's in it
        metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
        _use_metrics_dir(metrics_dir)
        config = config.model_copy(update={"metrics_dir": metrics_dir})
    controller: Controller | None = None

    def start_controller() -> None:
        nonlocal controller
        if config.controller:
            controller = _start_controller(config.controller_tick)

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
            _fork_workers(uv_config, sock, start_controller).run()
        else:
            start_controller()
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
