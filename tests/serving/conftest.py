"""A registry with real models, and real ``shipyard serve`` processes on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from shipyard.interfaces.sdk import Client
from shipyard.testing import FailingModel, SlowModel, ThresholdModel


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[str]
    home: Path
    grpc: str | None = None
    """host:port of the V2 gRPC service, when started with ``grpc=True``."""

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.process.stderr is None or self.process.stderr.closed:  # stopped already
            return ""
        with self.process.stderr:
            return self.process.stderr.read()


def start_server(
    home: Path,
    *args: str,
    ready_timeout: float = 300.0,
    wait_for: str = "ready",
    grpc: bool = False,
) -> Server:
    port = free_port()
    grpc_port = free_port() if grpc else None
    if grpc_port is not None:
        args = (*args, "--grpc-port", str(grpc_port))
    # the fake models of shipyard.testing are python-flavor packages whose code is ours: trusted
    # here (session fixtures start servers before the per-test environment is set)
    env = {"SHIPYARD_ALLOW_CODE": "1", **os.environ, "SHIPYARD_HOME": str(home)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shipyard.interfaces.cli.main",
            "serve",
            *args,
            "--port",
            str(port),
            "--poll-interval",
            "0.2",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/v2/health/{wait_for}", timeout=1).status_code == 200:
                grpc_address = None if grpc_port is None else f"127.0.0.1:{grpc_port}"
                return Server(url, process, home, grpc_address)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    if process.stderr is not None:
        process.stderr.close()
    raise RuntimeError(f"server did not become {wait_for}")


@pytest.fixture(scope="session")
def model_home(
    tmp_path_factory: pytest.TempPathFactory,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
    mixed_frame: tuple[pd.DataFrame, pd.Series],
    mixed_pipeline: object,
) -> Path:
    """cancer (30 float columns), mixed (int/float/string/nullable), and python test models."""
    home = tmp_path_factory.mktemp("serving-home")
    X, y = cancer
    M, my = mixed_frame
    frame = pd.DataFrame({"x": [-1.0, -0.2, 0.3, 2.0]})
    with Client(home=home) as client:
        client.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y)
        client.set_alias("cancer", "champion", 1)
        client.log_model(mixed_pipeline, name="mixed", X_sample=M, y_sample=my)
        client.set_alias("mixed", "champion", 1)
        for version, threshold in ((1, 0.0), (2, 0.5), (3, 1.5)):
            v = client.log_model(ThresholdModel("x", threshold), name="thresh", X_sample=frame)
            assert v.version == version
        client.set_alias("thresh", "champion", 1)
        client.log_model(FailingModel("x", 0.0, fail_above=5.0), name="failing", X_sample=frame)
        client.log_model(SlowModel("x", 0.0, delay_s=0.02), name="slow", X_sample=frame)
    return home


@pytest.fixture(scope="session")
def server(model_home: Path) -> Iterator[Server]:
    srv = start_server(
        model_home,
        "cancer@champion",
        "mixed@champion",
        "thresh@champion",
        "failing@latest",
        "--max-body-mb",
        "1",
        grpc=True,
    )
    yield srv
    srv.stop()


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


Starter = Callable[..., Server]


@pytest.fixture
def start(model_home: Path) -> Iterator[Starter]:
    started: list[Server] = []

    def _start(
        *args: str, home: Path | None = None, wait_for: str = "ready", grpc: bool = False
    ) -> Server:
        srv = start_server(home or model_home, *args, wait_for=wait_for, grpc=grpc)
        started.append(srv)
        return srv

    yield _start
    for srv in started:
        srv.stop(signal.SIGKILL)
