"""An in-process server (the real ASGI app on a real registry) for route-level tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from starlette.applications import Starlette

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.interfaces.http.app import create_app
from shipyard.interfaces.http.config import ServeConfig, endpoint_from_arg

AUTH: dict[str, str] = {}
"""Headers every in-process request carries; a bearer token goes here once tokens exist."""


class AppClient:
    """A synchronous client over httpx's ``ASGITransport``: requests never leave the process."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient) -> None:
        self.portal = portal
        self.http = client

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self.portal.call(
            lambda: self.http.request(method, url, **kwargs)
        )
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)


@contextmanager
def serve_in_process(app: Starlette) -> Iterator[AppClient]:
    """Runs the app's lifespan (startup, shutdown) on a private event loop thread."""
    with (
        start_blocking_portal() as portal,
        portal.wrap_async_context_manager(app.router.lifespan_context(app)),
    ):
        transport = httpx.ASGITransport(app=app)
        http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=AUTH)
        try:
            yield AppClient(portal, http)
        finally:
            portal.call(http.aclose)


@dataclass
class InProcess:
    client: AppClient
    services: Services
    home: Path


def wait_ready(client: AppClient, deadline_s: float = 60.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if client.get("/v2/health/ready").status_code == 200:
            return
        time.sleep(0.05)
    raise AssertionError(f"not ready: {client.get('/api/status').text}")


@pytest.fixture
def inprocess_database() -> str | None:
    """The registry of ``inprocess`` (None: the home's SQLite); a module overrides it to run its
    tests on both databases."""
    return None


@pytest.fixture
def inprocess(
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
    inprocess_database: str | None,
) -> Iterator[InProcess]:
    """``cancer@champion`` (a classifier, classes 0 and 1) and ``price@champion`` (a regressor)."""
    from sklearn.linear_model import LinearRegression

    X, y = cancer
    home = tmp_path / "home"
    services = build(Settings(home=home, actor="tester", database_url=inprocess_database))
    services.registry.log_model(
        cancer_model, name="cancer", X_sample=X.head(60), y_sample=y.head(60)
    )
    services.registry.set_alias("cancer", "champion", 1)
    small = X[["mean radius", "mean texture"]]
    reg = LinearRegression().fit(small, X["mean area"])
    services.registry.log_model(reg, name="price", X_sample=small.head(60))
    services.registry.set_alias("price", "champion", 1)
    config = ServeConfig(
        endpoints=[endpoint_from_arg("cancer@champion"), endpoint_from_arg("price@champion")],
        controller=False,
    )
    with serve_in_process(create_app(services, config)) as client:
        wait_ready(client)
        yield InProcess(client, services, home)
