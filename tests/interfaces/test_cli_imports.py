"""Registry and alias commands answer at once: each, run in a fresh interpreter, imports none of the
heavy libraries (numerics, dataframes, DuckDB, model frameworks). Timing is for ``bench/cli.py``;
this test pins the cause of a slow start, which does not depend on the machine's load."""

from __future__ import annotations

import json
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

NOT_FOR_THE_REGISTRY = (
    *HEAVY,
    "alembic",  # the schema revision is checked with one query; Alembic only migrates
    "yaml",  # no manifest is read to move an alias
    "fsspec",  # nor any blob
    "httpx",
    "starlette",
    "uvicorn",
    "jinja2",
)

LIGHT = {"typer", "shellingham", "annotated_doc"}
"""All that ``--version`` may import besides the standard library: no Rich, no SQLAlchemy, no
pydantic, no command module."""
HELP = LIGHT | {"rich", "markdown_it", "mdurl", "pygments", "attr"}
"""``--help`` adds Rich and what Typer's help rendering imports with it (``attr`` if installed)."""
FRONT = {
    "shipyard",
    "shipyard._version",
    "shipyard.core",
    "shipyard.core.errors",
    "shipyard.interfaces",
    "shipyard.interfaces.cli",
    "shipyard.interfaces.cli.context",
    "shipyard.interfaces.cli.errors",
    "shipyard.interfaces.cli.lazy",
    "shipyard.interfaces.cli.main",
}
"""The Shipyard modules of ``--help`` and ``--version``: commands are listed, not imported."""

# Runs the CLI as the console script does, then prints what it loaded: at exit, since the CLI ends
# with sys.exit. "LOADED:" lists the top-level packages outside the standard library.
PROBE = """
import atexit, json, sys
def loaded():
    tops = {m.split(".")[0] for m in sys.modules if not m.startswith("_")}
    return {
        "third": sorted(t for t in tops if t not in sys.stdlib_module_names and t != "shipyard"),
        "shipyard": sorted(m for m in sys.modules if m.split(".")[0] == "shipyard"),
    }
atexit.register(lambda: print("LOADED:", json.dumps(loaded())))
sys.argv = ["shipyard", *sys.argv[1:]]
from shipyard.interfaces.cli.main import run
run()
"""


def _run(
    home: Path, argv: list[str]
) -> tuple[subprocess.CompletedProcess[str], dict[str, list[str]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env |= {"SHIPYARD_HOME": str(home), "COLUMNS": "200"}
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, env=env, timeout=120
    )
    *_, last = run.stdout.strip().splitlines()
    assert last.startswith("LOADED: "), run.stdout
    return run, json.loads(last.removeprefix("LOADED: "))


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
    run, loaded = _run(home, argv)
    assert run.returncode == 0, run.stderr
    forbidden = set(NOT_FOR_THE_REGISTRY)
    if argv[:2] == ["versions", "show"]:  # shows the manifest: a YAML blob in the artifact store
        forbidden -= {"yaml", "fsspec"}
    assert not forbidden & set(loaded["third"]), f"shipyard {' '.join(argv)}"


@pytest.mark.parametrize(("argv", "allowed"), [(["--version"], LIGHT), (["--help"], HELP)])
def test_help_and_version_import_only_the_cli_framework(
    home: Path, argv: list[str], allowed: set[str]
) -> None:
    run, loaded = _run(home, argv)
    assert run.returncode == 0, run.stderr
    assert set(loaded["third"]) <= allowed, f"shipyard {argv[0]} imported {loaded['third']}"
    assert set(loaded["shipyard"]) == FRONT


def test_the_probe_sees_a_heavy_import(home: Path) -> None:
    """The probe is not blind: a command that does load a model reports what it imported."""
    run, loaded = _run(home, ["card", "cancer", "1"])
    assert run.returncode == 0, run.stderr
    assert "numpy" in loaded["third"] and "shipyard.interfaces.cli.governance" in loaded["shipyard"]
