"""A server process holds what serving needs and no more; its workers share one load of the models."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd

from tests.serving.conftest import Starter, free_port

ABSENT = ("torch", "duckdb", "alembic", "sklearn.utils._testing", "websockets")
"""Never needed to serve a scikit-learn model: the deep learning framework, the log's query
engine, migrations, skops's walk over scikit-learn, WebSockets."""

PROBE = """
import json, os, signal, sys, threading, time, urllib.request

port, row = int(sys.argv[1]), sys.argv[2]

def probe():
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(url + "/v2/health/ready", timeout=5).status == 200:
                break
        except OSError:
            time.sleep(0.05)
    statuses = []
    for _ in range(5):
        request = urllib.request.Request(
            url + "/v1/models/cancer/predict", data=row.encode(),
            headers={"content-type": "application/json"},
        )
        statuses.append(urllib.request.urlopen(request, timeout=30).status)
    print("PROBE " + json.dumps({"statuses": statuses, "modules": sorted(sys.modules)}), flush=True)
    os.kill(os.getpid(), signal.SIGINT)

threading.Thread(target=probe, daemon=True).start()
sys.argv = ["shipyard", "serve", "cancer@champion", "--port", str(port), "--log-level", "warning"]
from shipyard.interfaces.cli.main import run
run()
"""


def test_a_serving_process_imports_nothing_it_does_not_use(
    model_home: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = cancer
    row = json.dumps({"records": [X.iloc[0].to_dict()]})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(free_port()), row],
        env={"SHIPYARD_HOME": str(model_home), "SHIPYARD_ALLOW_CODE": "1", **_inherited()},
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("PROBE ")), None)
    assert line is not None, done.stderr[-3000:]
    seen = json.loads(line.removeprefix("PROBE "))
    assert seen["statuses"] == [200] * 5
    modules = set(seen["modules"])
    assert "skops.io" in modules and "sklearn.linear_model" in modules  # it did load the model
    assert [m for m in ABSENT if m in modules] == []


def _inherited() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in ("PATH", "PYTHONPATH", "HOME", "LANG")}


def _smaps_rollup(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        out[key] = int(value.split()[0])
    return out


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def test_workers_are_forked_from_a_supervisor_that_loaded_the_models(start: Starter) -> None:
    server = start("cancer@champion", "--workers", "2")
    workers = _children(server.process.pid)
    assert len(workers) == 2
    for pid in workers:
        # forked, not spawned: the same command line, and anonymous memory shared with the
        # supervisor (its imports and the loaded model: copy-on-write pages never written since)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        assert cmdline == Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
        assert _smaps_rollup(pid)["Shared_Dirty"] > 30 * 1024, _smaps_rollup(pid)
    status = httpx.get(f"{server.url}/api/status", timeout=30).json()
    assert status["ready"] is True
    server.process.kill()  # a supervisor killed outright takes its workers with it
    server.process.wait(timeout=30)
    for pid in workers:
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
            assert time.monotonic() < deadline, f"worker {pid} outlived its supervisor"
            time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return "gone"
