"""Rollouts against real `shipyard serve` processes under a bounded load from 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from shipyard.interfaces.sdk import Client
from shipyard.telemetry.reader import LogReader
from shipyard.testing import FailingModel, SlowModel, ThresholdModel

from ..helpers import cli_json
from ..serving.conftest import Server, start_server

FRAME = pd.DataFrame({"x": [-0.9, -0.3, 0.2, 0.8]})
INTERVAL = "2s"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIPYARD_LOG_FLUSH_INTERVAL", "0.25")
    home = tmp_path / "rollouts"
    with Client(home=home) as client:
        client.log_model(ThresholdModel("x", 0.0), name="m", X_sample=FRAME)  # 1: good
        client.log_model(
            ThresholdModel("x", 0.0), name="m", X_sample=FRAME
        )  # 2: good, same answers
        client.log_model(
            FailingModel("x", 0.0, fail_above=0.6),
            name="m",  # 3: fails on 20 %
            X_sample=FRAME[FRAME["x"] < 0.6],
        )
        client.log_model(
            SlowModel("x", 0.0, delay_s=0.08), name="m", X_sample=FRAME
        )  # 4: 10x slower
        client.set_alias("m", "champion", 1)
    return home


@dataclass
class Load:
    url: str
    seen: list[tuple[float, int, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    headers: dict[str, str] = field(default_factory=dict)

    async def _run(self, workers: int) -> None:
        rng = random.Random(0)
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as http:

            async def worker() -> None:
                while not self.stop.is_set():
                    x = rng.uniform(-1, 1)
                    try:
                        r = await http.post(
                            "/v1/models/m/predict", json=[{"x": x}], headers=self.headers
                        )
                        self.seen.append(
                            (time.time(), r.status_code, r.headers.get("x-model-version", ""))
                        )
                    except httpx.HTTPError:
                        self.seen.append((time.time(), 0, ""))
                    await asyncio.sleep(0.01)

            await asyncio.gather(*(worker() for _ in range(workers)))

    def start(self, workers: int = 4) -> Load:
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run(workers)), daemon=True)
        self.thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        if self.thread:
            self.thread.join(timeout=30)


def cli(home: Path, *args: str) -> Any:
    return cli_json(home, *args)


def wait_for_status(
    home: Path, endpoint: str, statuses: set[str], timeout: float = 60
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    status: dict[str, object] = {}
    while time.monotonic() < deadline:
        status = cli(home, "rollout", "status", endpoint)
        if status["rollout"]["status"] in statuses:  # type: ignore[index]
            return status
        time.sleep(0.5)
    raise AssertionError(f"rollout did not reach {statuses}: {status}")


@pytest.fixture
def served(home: Path) -> Iterator[Server]:
    server = start_server(home, "m@champion")
    yield server
    server.stop(signal.SIGKILL)


def test_canary_of_a_good_version_completes_and_moves_the_alias(home: Path, served: Server) -> None:
    load = Load(served.url).start()
    try:
        time.sleep(1)
        cli(
            home,
            "rollout",
            "start",
            "m",
            "--to",
            "2",
            "--steps",
            "20,50,100",
            "--interval",
            INTERVAL,
        )
        status = wait_for_status(home, "m", {"succeeded", "rolled_back"})
        time.sleep(1)
    finally:
        load.finish()
    assert status["rollout"]["status"] == "succeeded", status["events"]  # type: ignore[index]
    kinds = [e["kind"] for e in status["events"]]  # type: ignore[union-attr]
    assert kinds == ["start", "step", "step", "promote"]
    for event in status["events"][1:]:  # type: ignore[index]
        assert event["details"]["analysis"]["verdict"] == "successful"
    with Client(home=home) as client:
        assert client.registry.get_alias("m", "champion").version == 2
    assert Counter(code for _, code, _ in load.seen) == {200: len(load.seen)}
    assert load.seen[-1][2] == "2"


@pytest.mark.parametrize(("bad", "gate"), [(3, "success_rate"), (4, "p99_ratio")])
def test_a_bad_canary_is_rolled_back_within_one_interval(
    home: Path, served: Server, bad: int, gate: str
) -> None:
    load = Load(served.url).start()
    try:
        time.sleep(1)
        cli(
            home,
            "rollout",
            "start",
            "m",
            "--to",
            str(bad),
            "--steps",
            "20,50,100",
            "--interval",
            INTERVAL,
        )
        status = wait_for_status(home, "m", {"succeeded", "rolled_back"})
        time.sleep(3)
    finally:
        load.finish()
    assert status["rollout"]["status"] == "rolled_back", status["events"]  # type: ignore[index]
    last = status["events"][-1]  # type: ignore[index]
    assert last["kind"] == "rollback" and gate in last["details"]["reason"]
    decided = dt.datetime.fromisoformat(last["at"]).timestamp()
    with Client(home=home) as client:
        assert client.registry.get_alias("m", "champion").version == 1
    # every request not answered by the bad version succeeded
    failures = [(t, code, v) for t, code, v in load.seen if code != 200]
    assert all(v == str(bad) for _, _, v in failures), failures[:5]
    # within one interval of the failed analysis, v1 answers 100 %
    last_bad = max((t for t, _, v in load.seen if v == str(bad)), default=decided)
    ROLLBACK_SECONDS.append(last_bad - decided)
    assert last_bad - decided < 2.0
    after = [v for t, _, v in load.seen if t > decided + 2.0]
    assert after and set(after) == {"1"}


ROLLBACK_SECONDS: list[float] = []


def test_bluegreen_switch_and_instant_rollback_without_errors(home: Path, served: Server) -> None:
    load = Load(served.url).start()
    try:
        time.sleep(1)
        cli(
            home,
            "rollout",
            "start",
            "m",
            "--to",
            "2",
            "--strategy",
            "bluegreen",
            "--interval",
            INTERVAL,
            "--keep-warm",
            "30s",
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(v == "2" for _, _, v in load.seen[-20:]):
            time.sleep(0.2)
        assert any(v == "2" for _, _, v in load.seen), "blue/green never switched"
        switched = next(t for t, _, v in load.seen if v == "2")
        after_switch = [v for t, _, v in load.seen if t > switched + 0.5]
        assert set(after_switch) <= {"2"}  # all traffic switched at once
        wait_for_status(home, "m", {"running"})
        rolled = cli(home, "rollout", "rollback", "m")
        assert rolled["kind"] == "abort"
        t_rollback = time.time()
        time.sleep(2)
    finally:
        load.finish()
    back = [v for t, _, v in load.seen if t > t_rollback + 0.6]
    assert back and set(back) == {"1"}
    assert Counter(code for _, code, _ in load.seen) == {200: len(load.seen)}


def test_shadow_answers_only_from_v1_and_logs_v2(home: Path, served: Server) -> None:
    load = Load(served.url).start()
    try:
        time.sleep(1)
        cli(home, "rollout", "start", "m", "--to", "2", "--strategy", "shadow", "--interval", "3s")
        time.sleep(2.0)
    finally:
        load.finish()
    assert {v for _, _, v in load.seen} == {"1"}
    time.sleep(1)
    logged = LogReader(str(home / "logs")).predictions("m", route="shadow")
    assert len(logged) > 10 and set(logged["version"]) == {2}
    assert set(logged["route"]) == {"shadow"}


def test_sticky_ab_split(home: Path) -> None:
    with Client(home=home) as client:
        from shipyard.registry.deployments import DeploymentSpec, Route, Sticky

        client._services.deployments.create(  # type: ignore[union-attr]
            "ab",
            DeploymentSpec(
                routes=(Route("m/1", 70), Route("m/2", 30)), sticky=Sticky("header", "x-user")
            ),
        )
    server = start_server(home, "--deployment", "ab")
    try:
        answers: dict[str, set[str]] = {}
        with httpx.Client(base_url=server.url) as http:
            for i in range(400):
                user = f"user-{i % 200}"
                r = http.post("/v1/models/ab/predict", json=[{"x": 0.5}], headers={"x-user": user})
                assert r.status_code == 200
                answers.setdefault(user, set()).add(r.headers["x-model-version"])
    finally:
        server.stop(signal.SIGKILL)
    assert all(len(v) == 1 for v in answers.values())  # one user, one version
    share = sum(1 for v in answers.values() if v == {"2"}) / len(answers)
    assert abs(share - 0.30) < 0.10  # 200 users; the 10k-request tolerance is tested on the router


def test_controller_killed_mid_rollout_is_replaced_and_resumes(home: Path) -> None:
    server = start_server(home, "m@champion", "--no-controller")
    load = Load(server.url).start()
    controllers: list[subprocess.Popen[str]] = []

    def controller() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shipyard.interfaces.cli.main",
                "--home",
                str(home),
                "controller",
                "--tick",
                "0.3",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        controllers.append(proc)
        return proc

    try:
        time.sleep(1)
        first = controller()
        cli(
            home,
            "rollout",
            "start",
            "m",
            "--to",
            "2",
            "--steps",
            "20,40,60,80,100",
            "--interval",
            INTERVAL,
        )
        wait_for_step = time.monotonic() + 30
        while time.monotonic() < wait_for_step:
            events = cli(home, "rollout", "status", "m")["events"]
            if sum(e["kind"] == "step" for e in events) >= 1:  # type: ignore[union-attr]
                break
            time.sleep(0.3)
        first.send_signal(signal.SIGKILL)
        first.wait()
        controller()  # takes over once the lease expires
        status = wait_for_status(home, "m", {"succeeded", "rolled_back"}, timeout=90)
    finally:
        load.finish()
        for proc in controllers:
            proc.kill()
            proc.wait()
        server.stop(signal.SIGKILL)
    assert status["rollout"]["status"] == "succeeded"  # type: ignore[index]
    kinds = [e["kind"] for e in status["events"]]  # type: ignore[union-attr]
    assert kinds == [
        "start",
        "step",
        "step",
        "step",
        "step",
        "promote",
    ]  # resumed: none repeated or skipped
    weights = [e["details"]["next_weight"] for e in status["events"] if e["kind"] == "step"]  # type: ignore[union-attr]
    assert weights == [40.0, 60.0, 80.0, 100.0]
    audit = cli(home, "audit", "--action", "lease")
    assert len(audit) >= 1  # the second controller took the lease over
