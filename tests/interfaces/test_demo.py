"""The README's first command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
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
    assert run.returncode == 0, run.stderr
    assert "move @champion" in run.stdout and "alias history: 1 -> 2" in run.stdout
    assert (tmp_path / "d" / "registry.db").exists()
