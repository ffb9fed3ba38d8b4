"""The server follows the registry: alias moves swap versions under load with no failed request.

The tests wait for what they can observe (answers of a given version, /api/status, /metrics) with
generous deadlines, never for a fixed time, and judge swaps by causality rather than by seconds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pandas as pd
import pytest

from shipyard.interfaces.sdk import Client
from shipyard.testing import SlowModel, ThresholdModel

from .conftest import Starter

FRAME = pd.DataFrame({"x": [-1.0, -0.2, 0.3, 2.0]})


@pytest.fixture
def swap_home(tmp_path: Path) -> Path:
    home = tmp_path / "swap-home"
    with Client(home=home) as client:
        for threshold in (0.0, 0.5, 1.5):
            client.log_model(ThresholdModel("x", threshold), name="m", X_sample=FRAME)
        # version 4 cannot load: one of its stored files is corrupted after registration
        broken = client.log_model(ThresholdModel("x", 9.25), name="m", X_sample=FRAME)
        sha = client.registry.manifest(broken).files["state/state.json"][7:]
        blob = home / "artifacts" / "sha256" / sha[:2] / sha
        blob.write_bytes(blob.read_bytes().replace(b"9.25", b"9.75"))
        client.log_model(SlowModel("x", 0.0, delay_s=2.0), name="slow", X_sample=FRAME)
        client.set_alias("m", "champion", 1)
    return home


def until(what: str, check: Callable[[], object], timeout: float = 60) -> None:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout:g} s"
        time.sleep(0.05)


Seen = list[tuple[float, float, int, str]]
"""(sent, answered, status code, version) of each request, by time.monotonic()."""


async def _load(url: str, stop: threading.Event, seen: Seen, workers: int = 8) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:

        async def worker() -> None:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    resp = await http.post(
                        "/v1/models/m/predict?probabilities=false", json=[{"x": 1.0}]
                    )
                    seen.append(
                        (
                            sent,
                            time.monotonic(),
                            resp.status_code,
                            resp.headers.get("x-model-version", ""),
                        )
                    )
                except httpx.HTTPError as exc:
                    seen.append((sent, time.monotonic(), 0, type(exc).__name__))

        await asyncio.gather(*(worker() for _ in range(workers)))


def test_alias_moves_under_load_swap_without_failures(swap_home: Path, start: Starter) -> None:
    # this test is about swapping: no prediction log or controller competing for the 2 cores
    server = start("m@champion", "--no-log", "--no-controller", home=swap_home)
    stop = threading.Event()
    seen: Seen = []
    loader = threading.Thread(target=lambda: asyncio.run(_load(server.url, stop, seen)))
    loader.start()
    moves: list[tuple[float, str]] = []

    def answered_by(version: str, n: int, after: float = 0.0) -> Callable[[], bool]:
        return lambda: sum(1 for _, t, _, v in list(seen) if v == version and t > after) >= n

    try:
        until("100 answers from version 1", answered_by("1", 100))
        with Client(home=swap_home) as client:
            for version in (2, 3):
                client.set_alias("m", "champion", version, reason="test swap")
                moved_at = time.monotonic()
                moves.append((moved_at, str(version)))
                # the swap happens while the load keeps going: 100 answers from the new version
                until(f"100 answers from version {version}", answered_by(str(version), 100))
    finally:
        stop.set()
        loader.join(timeout=60)
    codes = Counter(code for _, _, code, _ in seen)
    assert codes == {200: len(seen)}, codes
    for moved_at, target in moves:
        # the load overlapped the swap: the old version still answered after the alias moved
        old = str(int(target) - 1)
        assert any(t > moved_at and v == old for _, t, _, v in seen), f"no load around {target}"
        # atomic swap: once the new version answered, a request sent later never met the old one
        first_new = min(t for _, t, _, v in seen if v == target)
        assert {v for sent, _, _, v in seen if sent > first_new} <= {target, str(int(target) + 1)}
    assert seen[0][3] == "1" and seen[-1][3] == "3"


def test_a_version_that_fails_to_warm_is_not_swapped_in(swap_home: Path, start: Starter) -> None:
    server = start("m@champion", home=swap_home)
    with Client(home=swap_home) as client, httpx.Client(base_url=server.url) as http:
        client.set_alias("m", "champion", 4, reason="bad")
        status: dict[str, object] = {}

        def failed() -> object:
            nonlocal status
            status = http.get("/api/status").json()["endpoints"][0]
            return status["last_error"]

        until("the load failure of m/4 shows in /api/status", failed)
        assert "m/4 failed to load or warm: IntegrityError" in str(status["last_error"])
        assert status["version"] == 1
        resp = http.post("/v1/models/m/predict", json=[{"x": 0.2}])
        assert resp.status_code == 200 and resp.headers["x-model-version"] == "1"
        assert "shipyard_model_load_failures_total" in http.get("/metrics").text
        client.set_alias("m", "champion", 2, reason="fixed")
        until(
            "version 2 answers",
            lambda: (
                http.post("/v1/models/m/predict", json=[{"x": 0.2}]).headers["x-model-version"]
                == "2"
            ),
        )
        assert http.get("/api/status").json()["endpoints"][0]["last_error"] is None


def test_latest_follows_new_versions(swap_home: Path, start: Starter) -> None:
    server = start("m@latest", home=swap_home, wait_for="live")
    with Client(home=swap_home) as client, httpx.Client(base_url=server.url, timeout=30) as http:
        # @latest is m/4, which fails to warm: the server is live but not ready, and says why
        until(
            "the first load attempt fails",
            lambda: http.get("/v2/health/ready").json()["endpoints"][0]["last_error"],
        )
        ready = http.get("/v2/health/ready")
        assert ready.status_code == 503
        assert "failed to load or warm" in str(ready.json()["endpoints"][0]["last_error"])
        client.log_model(ThresholdModel("x", 0.1), name="m", X_sample=FRAME)
        until("m/5 is ready", lambda: http.get("/v2/health/ready").status_code == 200)
        assert http.get("/v2/models/m").json()["versions"] == ["5"]


def test_two_workers_and_graceful_sigterm(swap_home: Path, start: Starter) -> None:
    server = start("slow@latest", "--workers", "2", home=swap_home)
    pids: set[str] = set()
    results: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            results.append(http.post("/v1/models/slow/predict", json=[{"x": 1.0}]).status_code)

    def both_ready() -> bool:
        # a new connection each time: the workers share the listening socket; wait for both ready
        status = httpx.get(f"{server.url}/api/status", timeout=30).json()
        if status["ready"]:
            pids.add(str(status["worker_pid"]))
        return len(pids) == 2

    until("both workers are ready", both_ready, timeout=120)
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()

    def in_flight() -> float:  # summed over the workers (a live gauge in the shared metrics dir)
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
        return sum(
            float(line.split()[-1])
            for line in text.splitlines()
            if line.startswith('shipyard_in_flight_requests{endpoint="slow"')
        )

    # every request is being answered (each takes 2 s) before the server is told to stop
    until("4 requests in flight", lambda: in_flight() == 4)
    os.kill(server.process.pid, signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert results == [200, 200, 200, 200]
    assert server.process.wait(timeout=30) == 0
    assert len(pids) == 2
