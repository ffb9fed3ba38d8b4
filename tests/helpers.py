"""Helpers shared by end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any


def cli_json(home: Path, *args: str, timeout: float = 120) -> Any:
    """Run ``shipyard --home HOME ARGS --json`` in a real process; fail the test on a non-zero exit."""
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "shipyard.interfaces.cli.main",
            "--home",
            str(home),
            *args,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)
