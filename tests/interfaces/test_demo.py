"""The README's first command: the whole closed loop, end to end, on a fresh home."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def test_demo_runs_the_whole_life_of_a_model(tmp_path: Path) -> None:
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.interfaces.cli.main",
            "demo",
            "--home",
            str(tmp_path / "d"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.monotonic() - started
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    out = run.stdout
    for stage in (
        "make it the champion",
        "drift detected",
        "retrains on recent labels",
        "champion vs challenger",
        "canary rollout with gates promotes it",
        "deliberately bad challenger is rolled back",
        "write the monitoring report",
    ):
        assert stage in out, stage
    assert (tmp_path / "d" / "report.html").stat().st_size > 10_000
    assert took < 180  # the target is 2 minutes on an idle machine; CI shares the cores
