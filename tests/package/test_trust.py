"""A package's own code runs only after an explicit decision: opt-in at load, or a recorded trust."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.core.errors import UntrustedCode
from shipyard.testing import ThresholdModel
from tests.helpers import cli_json


@pytest.fixture
def untrusted_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("SHIPYARD_ALLOW_CODE")
    home = tmp_path / "home"
    services = build(Settings(home=home, actor="tester"))
    services.registry.log_model(ThresholdModel(), name="t", X_sample=pd.DataFrame({"x": [0.0]}))
    services.registry.set_alias("t", "champion", 1)
    services.close()
    return home


def test_loading_code_needs_a_decision(untrusted_home: Path) -> None:
    services = build(Settings(home=untrusted_home, actor="tester"))
    with pytest.raises(UntrustedCode, match="shipyard trust MODEL VERSION"):
        services.registry.load("t/1")
    assert services.registry.load("t/1", allow_code=True).predict([{"x": 1.0}]).tolist() == [1]
    opted_in = build(Settings(home=untrusted_home, actor="tester", allow_code=True))
    assert opted_in.registry.load("t/1").predict([{"x": 1.0}]).tolist() == [1]


def test_trust_is_recorded_in_the_audit_log(untrusted_home: Path) -> None:
    trusted = cli_json(untrusted_home, "trust", "t", "1")
    assert trusted["version"] == 1
    services = build(Settings(home=untrusted_home, actor="tester"))
    assert services.registry.load("t/1").predict([{"x": -1.0}]).tolist() == [0]
    (event,) = services.registry.audit(action="version.trust")
    assert event.target == "t/1" and event.details["digest"] == trusted["digest"]


def test_serve_refuses_an_untrusted_code_package(untrusted_home: Path) -> None:
    run = subprocess.run(
        [
            *(sys.executable, "-m", "shipyard.interfaces.cli.main", "--home", str(untrusted_home)),
            *("serve", "t@champion", "--port", "1"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode != 0
    assert "t/1 runs its own Python code when loaded and is not trusted" in run.stderr
    assert "shipyard trust t 1" in run.stderr
    assert "Traceback" not in run.stderr
