"""Alias moves are seen within a second: made with the CLI while 8 client threads load the server.

On SQLite the server polls the revision every 0.2 s; on PostgreSQL the change's NOTIFY wakes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from shipyard.interfaces.sdk import Client
from shipyard.testing import ThresholdModel

from .conftest import Starter

FRAME = pd.DataFrame({"x": [-1.0, -0.2, 0.3, 2.0]})
CLIENTS = 8
SEEN_AFTER_RETURN_S = 1.0
SEEN_AFTER_TYPED_S = 5.0


@dataclass(frozen=True)
class Answer:
    sent: float
    received: float
    status: int
    version: str


def _client(url: str, stop: threading.Event, out: list[Answer], warm: threading.Barrier) -> None:
    with httpx.Client(base_url=url, timeout=10) as http:
        first = True
        while not stop.is_set():
            sent = time.monotonic()
            resp = http.post("/v1/models/m/predict?probabilities=false", json=[{"x": 1.0}])
            out.append(
                Answer(sent, time.monotonic(), resp.status_code, resp.headers["x-model-version"])
            )
            if first:
                first = False
                warm.wait(timeout=60)  # every client has an answer: the load is on


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_alias_move_under_load_is_answered_within_a_second(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    start: Starter,
) -> None:
    if backend == "postgres":
        monkeypatch.setenv("SHIPYARD_DATABASE_URL", request.getfixturevalue("postgres_url"))
    home = tmp_path / "follow-home"
    with Client(home=home) as client:
        for threshold in (0.0, 5.0):
            client.log_model(ThresholdModel("x", threshold), name="m", X_sample=FRAME)
        client.set_alias("m", "champion", 1)
    server = start("m@champion", "--no-controller", home=home)

    stop = threading.Event()
    warm = threading.Barrier(CLIENTS + 1)
    answers: list[list[Answer]] = [[] for _ in range(CLIENTS)]
    threads = [
        threading.Thread(target=_client, args=(server.url, stop, answers[i], warm))
        for i in range(CLIENTS)
    ]
    for t in threads:
        t.start()
    try:
        warm.wait(timeout=60)
        typed = time.monotonic()
        moved = subprocess.run(
            [
                sys.executable,
                "-m",
                "shipyard.interfaces.cli.main",
                "alias",
                "set",
                "m",
                "champion",
                "2",
            ],
            env={**os.environ, "SHIPYARD_HOME": str(home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        returned = time.monotonic()
        assert moved.returncode == 0, moved.stderr
        deadline = returned + 10
        while time.monotonic() < deadline and not any(
            a.version == "2" for per in answers for a in per[-5:]
        ):
            time.sleep(0.01)
        # keep the load on a little longer: no old answer may follow a new one
        until = time.monotonic() + 0.3
        while time.monotonic() < until:
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    every = sorted((a for per in answers for a in per), key=lambda a: a.received)
    assert {a.status for a in every} == {200}
    during = [a for a in every if typed <= a.sent <= returned]
    assert len(during) >= CLIENTS, "the server was not under load while the command ran"
    first_new = next(a.received for a in every if a.version == "2")
    print(
        f"{backend}: command took {returned - typed:.2f} s; new version answered "
        f"{first_new - returned:.3f} s after it returned ({len(during)} answers meanwhile)"
    )
    assert first_new - returned <= SEEN_AFTER_RETURN_S, (
        f"version 2 first answered {first_new - returned:.2f} s after the command returned"
    )
    assert [a.version for a in every if a.sent > first_new] == ["2"] * sum(
        1 for a in every if a.sent > first_new
    ), "the old version answered a request sent after the new one had answered"
    assert first_new - typed <= SEEN_AFTER_TYPED_S, (
        f"version 2 first answered {first_new - typed:.2f} s after the command was typed "
        f"(the command itself took {returned - typed:.2f} s)"
    )
