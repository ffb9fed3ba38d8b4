"""Operational routes: /metrics, /api/status, /openapi.json and /docs."""

from __future__ import annotations

import os

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from shipyard.interfaces.http.openapi import document
from shipyard.interfaces.http.responses import json_response
from shipyard.interfaces.http.state import server_state

DOCS_HTML = """<!doctype html>
<html><head><meta charset="utf-8"><title>Shipyard model server</title>
<link rel="stylesheet" href="/docs/static/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/static/swagger-ui-bundle.js"></script>
<script>window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui"});</script>
</body></html>"""


async def metrics(request: Request) -> Response:
    # off the event loop: rendering reads the monitor store (a database query)
    body = await run_in_threadpool(server_state(request).metrics.render)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


async def status(request: Request) -> Response:
    return json_response({"worker_pid": os.getpid(), **server_state(request).dataplane.status()})


async def openapi(request: Request) -> Response:
    return json_response(document(server_state(request).dataplane))


async def docs(request: Request) -> Response:
    return HTMLResponse(DOCS_HTML)


def routes() -> list[Route | Mount]:
    out: list[Route | Mount] = [
        Route("/metrics", metrics, methods=["GET"]),
        Route("/api/status", status, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    try:
        from swagger_ui_bundle import swagger_ui_path

        out.append(
            Mount("/docs/static", app=StaticFiles(directory=swagger_ui_path), name="docs-static")
        )
    except ImportError:  # the page then shows a bare document link; /openapi.json still works
        pass
    return out
