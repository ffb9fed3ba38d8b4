"""Running the app under uvicorn: the worker factory and the process entry used by ``shipyard serve``."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

from starlette.applications import Starlette

from shipyard.interfaces.http.config import ENV_VAR, ServeConfig
from shipyard.interfaces.http.logs import configure_logging

GRACEFUL_SHUTDOWN_S = 30
WORKER_STARTUP_S = 60
"""How long a worker may take to answer uvicorn's health ping: importing pandas, sklearn and the
flavors takes well over uvicorn's default of 5 s on a busy machine, and a worker killed for it
is restarted, and killed again, for ever."""
MAX_HEADER_BYTES = 64 * 1024
"""Most bytes of a request line plus headers. Enforced by the h11 parser while it reads them (a
middleware only sees headers already parsed; httptools has no such limit), so serve runs h11."""


def create_app_from_env() -> Starlette:
    """uvicorn factory (one call per worker): settings and the serve config from the environment."""
    from shipyard.app import build
    from shipyard.core.config import Settings
    from shipyard.interfaces.http.app import create_app

    config = ServeConfig.model_validate_json(os.environ[ENV_VAR])
    return create_app(build(Settings()), config)


def run(
    config: ServeConfig,
    *,
    host: str,
    port: int,
    workers: int = 1,
    log_format: str = "text",
    log_level: str = "info",
    access_log: bool = False,
) -> None:
    import uvicorn

    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="shipyard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        config = config.model_copy(update={"metrics_dir": metrics_dir})
    os.environ[ENV_VAR] = config.model_dump_json()
    log_config: dict[str, Any] = configure_logging(log_format, log_level)
    try:
        uvicorn.run(
            "shipyard.interfaces.http.server:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config,
            access_log=access_log,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            server_header=False,
            timeout_worker_healthcheck=WORKER_STARTUP_S,
            http="h11",
            h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
        logging.shutdown()
