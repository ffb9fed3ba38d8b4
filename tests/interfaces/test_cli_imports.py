"""Registry and alias commands answer at once: each, run in a fresh interpreter, imports none of the
heavy libraries (numerics, dataframes, DuckDB, model frameworks). Timing is for ``bench/cli.py``;
this test pins the cause of a slow start, which does not depend on the machine's load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.registry.deployments import DeploymentSpec, Route

HEAVY = (
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "sklearn",
    "skops",
    "duckdb",
    "torch",
    "onnxruntime",
    "xgboost",
    "lightgbm",
)

# Runs the CLI as the console script does, then prints which heavy modules it loaded: at exit,
# since the CLI ends with sys.exit.
PROBE = f"""
import atexit, sys
HEAVY = {HEAVY!r}
atexit.register(lambda: print("HEAVY:", sorted(m for m in HEAVY if m in sys.modules)))
sys.argv = ["shipyard", *sys.argv[1:]]
from shipyard.interfaces.cli.main import run
run()
"""

COMMANDS = [
    ["--help"],
    ["--version"],
    ["ui", "--help"],
    ["models", "list"],
    ["models", "show", "cancer"],
    ["versions", "list", "cancer"],
    ["versions", "show", "cancer", "1"],
    ["alias", "set", "cancer", "challenger", "2"],
    ["alias", "show", "cancer", "champion"],
    ["alias", "history", "cancer", "champion"],
    ["alias", "delete", "cancer", "staging"],
    ["tag", "set", "cancer", "team", "risk"],
    ["approve", "cancer", "1"],
    ["reject", "cancer", "2"],
    ["approvals", "cancer", "1"],
    ["protect", "set", "cancer", "prod"],
    ["protect", "list", "cancer"],
    ["audit"],
    ["audit", "verify"],
    ["tokens", "create", "ci", "--role", "viewer"],
    ["tokens", "list"],
    ["tokens", "revoke", "old"],
    ["deploy", "list"],
    ["deploy", "show", "web"],
]


@pytest.fixture(scope="module")
def home(
    tmp_path_factory: pytest.TempPathFactory,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
) -> Path:
    """A registry with two versions of ``cancer`` made by another person (so the OS user may
    approve), aliases, a token and a deployment: every command below has something to act on."""
    home = tmp_path_factory.mktemp("imports") / "home"
    X, _ = cancer
    services = build(Settings(home=home), actor="trainer")
    try:
        for _ in range(2):
            services.registry.log_model(cancer_model, name="cancer", X_sample=X.head(50))
        services.registry.set_alias("cancer", "champion", 1)
        services.registry.set_alias("cancer", "staging", 1)
        services.tokens.create("old", ["viewer"], actor="trainer")
        services.deployments.create("web", DeploymentSpec(routes=(Route("cancer@champion", 100),)))
    finally:
        services.close()
    return home


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_registry_commands_import_nothing_heavy(home: Path, argv: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env |= {"SHIPYARD_HOME": str(home), "COLUMNS": "200"}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    assert run.returncode == 0, run.stderr
    *_, last = run.stdout.strip().splitlines()
    assert last == "HEAVY: []", f"shipyard {' '.join(argv)} imported {last}"


def test_the_probe_sees_a_heavy_import(home: Path) -> None:
    """The probe is not blind: a command that does load a model reports what it imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env |= {"SHIPYARD_HOME": str(home)}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, "card", "cancer", "1"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "'numpy'" in run.stdout.strip().splitlines()[-1]
