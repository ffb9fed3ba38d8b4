"""HTTP limits on a real server: header size, stalled uploads, decoded size, client disconnects."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx

from tests.serving.conftest import Starter


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=60)
    return sock


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def test_headers_over_64_kb_are_refused_before_the_app(start: Starter) -> None:
    srv = start("thresh@champion", "--body-timeout", "1")
    host = urlsplit(srv.url).netloc.encode()  # the bound address: other Host headers get 403
    with connect(srv.url) as sock:  # 200 KB of one header: refused, the connection closed
        try:
            sock.sendall(
                b"GET /v2/health/live HTTP/1.1\r\nHost: " + host + b"\r\nX-Big: " + b"a" * 200_000
            )
            sock.sendall(b"\r\n\r\n")
            answer = read_all(sock)
        except (ConnectionResetError, BrokenPipeError):
            answer = b"reset"  # closed while we were still sending: refused early
    assert answer == b"reset" or answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b"200 OK" not in answer
    with connect(srv.url) as sock:  # 100 headers of 1 KB, each fine, together over the bound
        many = b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 1000) for i in range(100))
        try:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: " + host + b"\r\n" + many)
            sock.sendall(b"\r\n")
            answer = read_all(sock)
        except (ConnectionResetError, BrokenPipeError):
            answer = b"reset"
    assert answer == b"reset" or answer.startswith(b"HTTP/1.1 431"), answer[:100]
    assert b"200 OK" not in answer
    ok = httpx.get(f"{srv.url}/v2/health/live", headers={"X-Small": "a" * 30_000})
    assert ok.status_code == 200  # large but within the bound

    # a stalled upload: 10 of 1000 declared bytes, then nothing -> 408 after --body-timeout
    with connect(srv.url) as sock:
        sock.sendall(
            b"POST /v1/models/thresh/predict HTTP/1.1\r\nHost: " + host + b"\r\n"
            b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"x": 1.0'
        )
        answer = read_all(sock)  # returns because the server closes the connection
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within 1 s" in answer

    # a client that goes away mid-upload is not an error: no 500 counted, no traceback
    with connect(srv.url) as sock:
        sock.sendall(
            b"POST /v1/models/thresh/predict HTTP/1.1\r\nHost: " + host + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"
        )
    metrics = httpx.get(f"{srv.url}/metrics").text
    assert 'code="500"' not in metrics
    log = srv.stop()
    assert "Traceback" not in log and "Exception in ASGI application" not in log


def test_many_tiny_records_are_refused_by_decoded_cost(start: Starter) -> None:
    srv = start("thresh@champion", "--max-body-mb", "32")
    body = b"[" + b"{}," * 2_000_000 + b"{}]"  # 6 MB that would decode to ~500 MB of dicts
    response = httpx.post(
        f"{srv.url}/v1/models/thresh/predict",
        content=body,
        headers={"content-type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413
    assert "send columns" in response.json()["error"]
    columns = {"columns": {"x": [0.5] * 300_000}}  # the same rows as columns are fine
    ok = httpx.post(f"{srv.url}/v1/models/thresh/predict", json=columns, timeout=60)
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 300_000
