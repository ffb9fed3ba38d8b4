"""The server follows the registry: alias moves swap versions under load with no failed request."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections import Counter
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
        client.log_model(SlowModel("x", 0.0, delay_s=0.5), name="slow", X_sample=FRAME)
        client.set_alias("m", "champion", 1)
    return home


async def _load(
    url: str, stop: threading.Event, seen: list[tuple[float, int, str]], workers: int = 8
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:

        async def worker() -> None:
            while not stop.is_set():
                try:
                    resp = await http.post(
                        "/v1/models/m/predict?probabilities=false", json=[{"x": 1.0}]
                    )
                    seen.append(
                        (
                            time.monotonic(),
                            resp.status_code,
                            resp.headers.get("x-model-version", ""),
                        )
                    )
                except httpx.HTTPError as exc:
                    seen.append((time.monotonic(), 0, type(exc).__name__))

        await asyncio.gather(*(worker() for _ in range(workers)))


def test_alias_moves_under_load_swap_without_failures(swap_home: Path, start: Starter) -> None:
    # this test is about swapping: no prediction log or controller competing for the 2 cores
    server = start("m@champion", "--no-log", "--no-controller", home=swap_home)
    stop = threading.Event()
    seen: list[tuple[float, int, str]] = []
    loader = threading.Thread(target=lambda: asyncio.run(_load(server.url, stop, seen)))
    loader.start()
    moves: list[tuple[float, str]] = []
    try:
        time.sleep(1.5)
        with Client(home=swap_home) as client:
            for version in (2, 3):
                client.set_alias("m", "champion", version, reason="test swap")
                moves.append((time.monotonic(), str(version)))
                time.sleep(3.0)
    finally:
        stop.set()
        loader.join(timeout=30)
    duration = seen[-1][0] - seen[0][0]
    rate = len(seen) / duration
    codes = Counter(code for _, code, _ in seen)
    assert rate >= 200, f"load was only {rate:.0f} req/s"
    assert codes == {200: len(seen)}, codes
    for moved_at, version in moves:
        first = next(t for t, _, v in seen if v == version)
        assert first - moved_at < 5.0, (
            f"version {version} answered {first - moved_at:.1f} s after the move"
        )
    answered = [v for _, _, v in seen]
    assert answered[0] == "1" and answered[-1] == "3"
    # once a newer version answered, the older one never answered again (atomic swap)
    assert answered.index("3") > len(answered) - 1 - answered[::-1].index("2")


def test_a_version_that_fails_to_warm_is_not_swapped_in(swap_home: Path, start: Starter) -> None:
    server = start("m@champion", home=swap_home)
    with Client(home=swap_home) as client, httpx.Client(base_url=server.url) as http:
        client.set_alias("m", "champion", 4, reason="bad")
        deadline = time.monotonic() + 10
        status: dict[str, object] = {}
        while time.monotonic() < deadline:
            status = http.get("/api/status").json()["endpoints"][0]
            if status["last_error"]:
                break
            time.sleep(0.1)
        assert "m/4 failed to load or warm: IntegrityError" in str(status["last_error"])
        assert status["version"] == 1
        resp = http.post("/v1/models/m/predict", json=[{"x": 0.2}])
        assert resp.status_code == 200 and resp.headers["x-model-version"] == "1"
        assert "shipyard_model_load_failures_total" in http.get("/metrics").text
        client.set_alias("m", "champion", 2, reason="fixed")
        deadline = time.monotonic() + 10
        while (
            time.monotonic() < deadline
            and http.post("/v1/models/m/predict", json=[{"x": 0.2}]).headers["x-model-version"]
            != "2"
        ):
            time.sleep(0.1)
        assert http.get("/api/status").json()["endpoints"][0]["last_error"] is None


def test_latest_follows_new_versions(swap_home: Path, start: Starter) -> None:
    server = start("m@latest", home=swap_home, wait_for="live")
    time.sleep(2.0)  # the first load attempt fails
    with Client(home=swap_home) as client, httpx.Client(base_url=server.url) as http:
        # @latest is m/4, which fails to warm: the server is live but not ready, and says why
        ready = http.get("/v2/health/ready")
        assert ready.status_code == 503
        assert "failed to load or warm" in str(ready.json()["endpoints"][0]["last_error"])
        client.log_model(ThresholdModel("x", 0.1), name="m", X_sample=FRAME)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and http.get("/v2/health/ready").status_code != 200:
            time.sleep(0.1)
        assert http.get("/v2/models/m").json()["versions"] == ["5"]


def test_two_workers_and_graceful_sigterm(swap_home: Path, start: Starter) -> None:
    server = start("slow@latest", "--workers", "2", home=swap_home)
    pids: set[str] = set()
    results: list[int] = []

    def call() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            results.append(http.post("/v1/models/slow/predict", json=[{"x": 1.0}]).status_code)

    deadline = time.monotonic() + 60
    while len(pids) < 2 and time.monotonic() < deadline:
        # a new connection each time: the workers share the listening socket; wait for both ready
        status = httpx.get(f"{server.url}/api/status").json()
        if status["ready"]:
            pids.add(str(status["worker_pid"]))
    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)  # requests are in flight (each takes 0.5 s)
    os.kill(server.process.pid, signal.SIGTERM)
    for t in threads:
        t.join(timeout=30)
    assert results == [200, 200, 200, 200]
    assert server.process.wait(timeout=30) == 0
    assert len(pids) == 2
