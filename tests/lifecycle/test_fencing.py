"""A controller frozen mid-tick past its lease cannot act when it wakes up (SIGSTOP / SIGCONT)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pandas as pd
import pytest

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.lifecycle.controller import LEASE, Controller
from shipyard.testing import ThresholdModel

FRAME = pd.DataFrame({"x": [-0.9, -0.3, 0.2, 0.8]})
ROOT = Path(__file__).resolve().parents[2]


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def wait_for_line(lines: queue.Queue[str], needle: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r} in {seen}")


@pytest.fixture
def services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    s = build(Settings(home=tmp_path / "home", database_url=database_url, actor="tester"))
    s.registry.log_model(ThresholdModel("x", 0.0), name="m", X_sample=FRAME)
    s.registry.log_model(ThresholdModel("x", 0.0), name="m", X_sample=FRAME)
    s.registry.set_alias("m", "champion", 1)
    yield s
    s.close()


def test_a_stale_controller_is_refused_and_nothing_happens_twice(
    services: Services, tmp_path: Path, database_url: str
) -> None:
    # blue/green at its preview: the next due tick switches all traffic to v2, once.
    rollout = services.rollouts.start("m", to_version=2, strategy="bluegreen", interval=0.001)
    env = {
        **os.environ,
        "SHIPYARD_HOME": str(tmp_path / "home"),
        "SHIPYARD_DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    first = subprocess.Popen(
        [sys.executable, "-m", "tests.lifecycle.gated_controller"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stdout is not None and first.stderr is not None and first.stdin is not None
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    for stream, into in ((first.stdout, out), (first.stderr, err)):
        threading.Thread(target=_lines, args=(stream, into), daemon=True).start()
    second = Controller(services.rollouts, services.leases, tick=0.1, lease_ttl=60)
    try:
        holder = wait_for_line(out, "HOLDER").split()[1]
        assert wait_for_line(out, "MID-TICK").split()[1:] == [str(rollout.id), "running"]
        lease = services.leases.get_lease(LEASE)
        assert lease is not None and (lease.holder, lease.epoch) == (holder, 1)
        first.send_signal(signal.SIGSTOP)  # frozen between reading the rollout and deciding

        deadline = time.monotonic() + 60
        while not second.tick():  # takes over once the frozen holder's lease has expired
            assert time.monotonic() < deadline, "the frozen controller kept its lease"
            time.sleep(0.05)
        assert second.lease is not None and second.lease.epoch == 2
        switched = [e for e in services.rollouts.store.events(rollout.id) if e.kind == "switch"]
        assert len(switched) == 1  # the new holder did the work

        first.send_signal(signal.SIGCONT)
        first.stdin.write("go\n")
        first.stdin.flush()
        refused = wait_for_line(err, "stops this tick")
        assert f"epoch 1 of {holder} is stale" in refused and "at epoch 2" in refused
    finally:
        first.kill()
        first.wait(timeout=30)

    events = services.rollouts.store.events(rollout.id)
    assert [e.kind for e in events] == ["start", "switch"]  # the stale switch was not recorded
    assert [e.action for e in services.registry.audit(action="rollout.switch")] == [
        "rollout.switch"
    ]
    assert services.deployments.get("m").revision == 2  # routes changed at start and switch only
    lease = services.leases.get_lease(LEASE)
    assert lease is not None and (lease.holder, lease.epoch) == (second.holder, 2)
