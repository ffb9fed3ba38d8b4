"""The Ray ingress's routing rules and in-process ASGI call, without Ray (the whole path runs on
Ray in ``test_ray_serve.py``)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shipyard.interfaces.http.ray_ingress import Forwarded, call_asgi, endpoint_in_path


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v2/models/churn/infer", "churn"),
        ("/v2/models/churn/versions/3/infer", "churn"),
        ("/v2/models/churn", "churn"),
        ("/v1/models/churn/predict", "churn"),
        ("/v1/models/churn:explain", "churn"),
        ("/endpoints/churn/invocations", "churn"),
        ("/invocations", None),
        ("/api/models/churn", None),
        ("/v2/health/ready", None),
    ],
)
def test_the_endpoint_a_path_names(path: str, endpoint: str | None) -> None:
    assert endpoint_in_path(path) == endpoint


def _request(method: str, path: str, body: bytes = b"") -> Forwarded:
    return Forwarded(method, path, path.encode(), b"", [(b"host", b"127.0.0.1:8000")], body)


@pytest.mark.parametrize(
    ("method", "path", "repeatable"),
    [
        ("POST", "/v2/models/churn/infer", True),
        ("POST", "/v2/models/churn/versions/2/infer", True),
        ("POST", "/v1/models/churn/predict", True),
        ("POST", "/v1/models/churn:explain", True),
        ("POST", "/invocations", True),
        ("POST", "/endpoints/churn/invocations", True),
        ("GET", "/api/models", True),
        ("POST", "/v1/feedback", False),
        ("PUT", "/api/models/churn/aliases/champion", False),
        ("POST", "/api/tokens", False),
    ],
)
def test_only_requests_that_change_nothing_are_retried(
    method: str, path: str, repeatable: bool
) -> None:
    assert _request(method, path).repeatable is repeatable


def test_call_asgi_passes_the_request_and_returns_the_whole_response() -> None:
    async def echo(request: Request) -> JSONResponse:
        body = await request.body()
        return JSONResponse(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "host": request.headers["host"],
                "body": body.decode(),
                "disconnected": await request.is_disconnected(),
            },
            status_code=201,
            headers={"x-seen": "yes"},
        )

    app = Starlette(routes=[Route("/echo/{rest:path}", echo, methods=["POST"])])
    request = Forwarded(
        "POST",
        "/echo/a b",
        b"/echo/a%20b",
        b"k=v",
        [(b"host", b"127.0.0.1:8000"), (b"content-type", b"application/json")],
        b'{"x": 1}',
        client=("10.0.0.7", 5555),
    )
    answer = asyncio.run(call_asgi(app, request))
    assert answer.status == 201
    assert (b"x-seen", b"yes") in answer.headers
    assert answer.json() == {
        "method": "POST",
        "path": "/echo/a b",
        "query": "k=v",
        "host": "127.0.0.1:8000",
        "body": '{"x": 1}',
        "disconnected": False,
    }
