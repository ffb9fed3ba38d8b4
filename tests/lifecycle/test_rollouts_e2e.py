"""Rollouts against real `shipyard serve` processes under a bounded load from 127.0.0.1.

Nothing here depends on how fast the machine is: the tests wait for events (answers seen by the
load, rollout states, log rows) with generous deadlines, the load's inputs are seeded, the bad
versions fail on nearly every request, and traffic switches are checked by causality (a request
sent after the new version answered is answered by it), not by seconds after a decision.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
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
            FailingModel("x", 0.0, fail_above=-0.5),
            name="m",  # 3: fails on 75 % of the load (x uniform in -1..1): never passes by chance
            X_sample=FRAME[FRAME["x"] < -0.5],
        )
        client.log_model(
            SlowModel("x", 0.0, delay_s=0.3), name="m", X_sample=FRAME
        )  # 4: 0.3 s per call, far slower than version 1 even on a busy machine
        client.set_alias("m", "champion", 1)
    return home


@dataclass(frozen=True)
class Answer:
    sent: float
    """time.time() when the request was sent..."""
    at: float
    """...and when its answer arrived."""
    code: int
    version: str


@dataclass
class Load:
    url: str
    seen: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def wait_for(
        self, what: str, check: Callable[[list[Answer]], bool], timeout: float = 60
    ) -> None:
        """Poll ``check(answers so far)`` until true (the load keeps running meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check(list(self.seen)):
                return
            time.sleep(0.05)
        raise AssertionError(f"the load never saw {what} within {timeout:g} s")

    def warm(self) -> None:
        self.wait_for("20 answers", lambda seen: sum(a.code == 200 for a in seen) >= 20)

    def answers_sent_after(self, t: float, n: int = 20) -> list[Answer]:
        """Wait until ``n`` requests sent after ``t`` were answered; return every such answer."""
        self.wait_for(
            f"{n} answers to requests sent after the switch",
            lambda seen: sum(a.sent > t for a in seen) >= n,
        )
        return [a for a in self.seen if a.sent > t]

    async def _run(self, workers: int) -> None:
        rng = random.Random(0)
        async with httpx.AsyncClient(base_url=self.url, timeout=60) as http:

            async def worker() -> None:
                while not self.stop.is_set():
                    x = rng.uniform(-1, 1)
                    sent = time.time()
                    try:
                        r = await http.post(
                            "/v1/models/m/predict", json=[{"x": x}], headers=self.headers
                        )
                        answer = Answer(
                            sent, time.time(), r.status_code, r.headers.get("x-model-version", "")
                        )
                    except httpx.HTTPError:
                        answer = Answer(sent, time.time(), 0, "")
                    self.seen.append(answer)
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


def routed_to(url: str, version: str, timeout: float = 60) -> float:
    """Wait until the server routes every request of ``m`` to ``version`` (its /api/status says so);
    return the time it was seen. A request sent after that time is answered by ``version``."""
    deadline = time.monotonic() + timeout
    routes: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        [endpoint] = httpx.get(f"{url}/api/status", timeout=30).json()["endpoints"]
        routes = endpoint["deployment"]["routes"]
        if {str(r["version"]) for r in routes if r["weight"] > 0} == {version}:
            return time.time()
        time.sleep(0.05)
    raise AssertionError(f"the server never routed everything to version {version}: {routes}")


def cli(home: Path, *args: str) -> Any:
    return cli_json(home, *args)


def wait_for_status(
    home: Path, endpoint: str, statuses: set[str], timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = cli(home, "rollout", "status", endpoint)
        if status["rollout"]["status"] in statuses:
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
        load.warm()
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
        after = load.answers_sent_after(routed_to(served.url, "2"))
    finally:
        load.finish()
    assert status["rollout"]["status"] == "succeeded", status["events"]
    decisions = [e for e in status["events"] if e["kind"] != "hold"]
    assert [e["kind"] for e in decisions] == ["start", "step", "step", "promote"]
    for event in decisions[1:]:
        assert event["details"]["analysis"]["verdict"] == "successful"
    for event in status["events"]:
        if event["kind"] == "hold":  # too few requests yet on a busy machine: look again
            assert event["details"]["analysis"]["verdict"] == "inconclusive"
    with Client(home=home) as client:
        assert client.registry.get_alias("m", "champion").version == 2
    assert Counter(a.code for a in load.seen) == {200: len(load.seen)}
    assert {a.version for a in after} == {"2"}


@pytest.mark.parametrize(
    ("bad", "gates"),
    [
        (3, ("success_rate",)),
        (4, ("p99_ratio", "p99_ms")),
    ],  # slow: either latency gate may fire first
)
def test_a_bad_canary_is_rolled_back_and_v1_answers_alone(
    home: Path, served: Server, bad: int, gates: tuple[str, ...]
) -> None:
    load = Load(served.url).start()
    try:
        load.warm()
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
        last = status["events"][-1]
        later = load.answers_sent_after(routed_to(served.url, "1"))
    finally:
        load.finish()
    assert status["rollout"]["status"] == "rolled_back", status["events"]
    assert last["kind"] == "rollback" and any(g in last["details"]["reason"] for g in gates)
    with Client(home=home) as client:
        assert client.registry.get_alias("m", "champion").version == 1
    # every request not answered by the bad version succeeded
    failures = [a for a in load.seen if a.code != 200]
    assert all(a.version == str(bad) for a in failures), failures[:5]
    # once the server routes to version 1 alone, every request sent later meets version 1
    assert {a.version for a in later} == {"1"}


def test_bluegreen_switch_and_instant_rollback_without_errors(home: Path, served: Server) -> None:
    load = Load(served.url).start()
    try:
        load.warm()
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
        load.wait_for("an answer from version 2", lambda seen: any(a.version == "2" for a in seen))
        switched = next(a.at for a in load.seen if a.version == "2")
        # all traffic switched at once: every request sent after version 2 first answered met it
        assert {a.version for a in load.answers_sent_after(switched)} == {"2"}
        wait_for_status(home, "m", {"running"})
        rolled = cli(home, "rollout", "rollback", "m")
        assert rolled["kind"] == "abort"
        later = load.answers_sent_after(routed_to(served.url, "1"))
    finally:
        load.finish()
    assert {a.version for a in later} == {"1"}
    assert Counter(a.code for a in load.seen) == {200: len(load.seen)}


def test_shadow_answers_only_from_v1_and_logs_v2(home: Path, served: Server) -> None:
    load = Load(served.url).start()
    reader = LogReader(str(home / "logs"))
    try:
        load.warm()
        cli(home, "rollout", "start", "m", "--to", "2", "--strategy", "shadow", "--interval", "3s")
        deadline = time.monotonic() + 60  # shadow answers reach the log (flushed every 0.25 s)
        while time.monotonic() < deadline and len(reader.predictions("m", route="shadow")) <= 10:
            time.sleep(0.2)
    finally:
        load.finish()
    assert {a.version for a in load.seen} == {"1"}
    logged = reader.predictions("m", route="shadow")
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
        load.warm()
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
        wait_for_step = time.monotonic() + 120
        while time.monotonic() < wait_for_step:
            events = cli(home, "rollout", "status", "m")["events"]
            if sum(e["kind"] == "step" for e in events) >= 1:
                break
            time.sleep(0.3)
        else:
            raise AssertionError(f"the first controller never took a step: {events}")
        first.send_signal(signal.SIGKILL)
        first.wait()
        controller()  # takes over once the lease expires
        status = wait_for_status(home, "m", {"succeeded", "rolled_back"}, timeout=180)
    finally:
        load.finish()
        for proc in controllers:
            proc.kill()
            proc.wait()
        server.stop(signal.SIGKILL)
    assert status["rollout"]["status"] == "succeeded"
    kinds = [e["kind"] for e in status["events"] if e["kind"] != "hold"]
    assert kinds == [
        "start",
        "step",
        "step",
        "step",
        "step",
        "promote",
    ]  # resumed: none repeated or skipped
    weights = [e["details"]["next_weight"] for e in status["events"] if e["kind"] == "step"]
    assert weights == [40.0, 60.0, 80.0, 100.0]
    audit = cli(home, "audit", "--action", "lease")
    assert len(audit) >= 1  # the second controller took the lease over
