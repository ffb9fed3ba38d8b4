"""Fixtures of the console's tests: the demo-like registry, an in-process client, a real server."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette

from shipyard.interfaces.http.app import create_app
from shipyard.interfaces.http.config import ServeConfig
from tests.interfaces.console.registry import ConsoleRegistry, build_registry

BASE = "http://127.0.0.1:8000"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def config(**overrides: object) -> ServeConfig:
    values: dict[str, object] = {
        "endpoints": [],
        "controller": False,
        "log_predictions": False,
    }
    values.update(overrides)
    return ServeConfig.model_validate(values)


class Client:
    """httpx's in-process ASGITransport with the app's lifespan, behind a synchronous face; it keeps
    cookies like a browser."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()

    def __enter__(self) -> Client:
        async def enter() -> httpx.AsyncClient:
            await self.stack.enter_async_context(self.app.router.lifespan_context(self.app))
            return await self.stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE)
            )

        self.http = self.loop.run_until_complete(enter())
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.run_until_complete(self.stack.aclose())
        self.loop.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.http.request(method, path, **kwargs))

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def csrf(self, path: str = "/ui/sign-in") -> str:
        """The CSRF token the page at ``path`` puts in its forms."""
        found = CSRF.search(self.get(path).text)
        assert found is not None, f"no CSRF field on {path}"
        return found.group(1)

    def sign_in(self, token: str) -> httpx.Response:
        return self.post("/ui/sign-in", data={"csrf": self.csrf(), "token": token, "next": "/ui"})


@pytest.fixture(scope="module")
def console_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleRegistry]:
    registry = build_registry(tmp_path_factory.mktemp("console") / "home")
    yield registry
    registry.services.close()


@pytest.fixture
def fresh_registry(tmp_path: Path) -> Iterator[ConsoleRegistry]:
    """A registry of its own, for tests that change it."""
    registry = build_registry(tmp_path / "home")
    yield registry
    registry.services.close()


@contextlib.contextmanager
def client_for(registry: ConsoleRegistry) -> Iterator[Client]:
    with Client(create_app(registry.services, config())) as client:
        yield client


@contextlib.contextmanager
def live_server(registry: ConsoleRegistry) -> Iterator[str]:
    """The whole app (as ``shipyard serve`` builds it) under uvicorn on 127.0.0.1, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(registry.services, config())
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5, lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(3000):  # up to 30 s on a busy machine; ends as soon as it serves
            if server.started:
                break
            if not thread.is_alive():
                raise AssertionError("the server thread died before serving")
            threading.Event().wait(0.01)
        else:
            raise AssertionError("the server did not start within 30 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
