"""Text from outside is printed literally by every read command: no Rich markup, no emoji codes.

A registry full of hostile strings (descriptions, tags, reasons, actors, comments, request ids, logged
values) is read back by every read command, as tables; each must succeed and show the string as is.
A new command must be added to one of the two lists below, so none escapes the sweep.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer.main

from shipyard import package
from shipyard.app import build
from shipyard.core.config import load_settings
from shipyard.interfaces.cli.lazy import LazyGroup
from shipyard.interfaces.cli.main import app
from shipyard.telemetry import PredictionEvent
from shipyard.telemetry.writer import SegmentWriter
from tests.interfaces.conftest import Cli

HOSTILE = "[/red]:x:[b]"
"""Closes a tag never opened (Rich raises), an emoji code and an open tag."""

# command -> (arguments, whether the hostile string must appear in its output)
READ_COMMANDS: dict[str, tuple[list[str], bool]] = {
    "models list": (["models", "list"], True),
    "models show": (["models", "show", "cancer"], True),
    "versions list": (["versions", "list"], False),
    "versions show": (["versions", "show", "cancer", "1"], True),
    "alias show": (["alias", "show", "cancer", "champion"], True),
    "alias history": (["alias", "history", "cancer", "champion"], True),
    "audit": (["audit"], True),
    "deploy list": (["deploy", "list"], False),
    "deploy show": (["deploy", "show", "d"], False),  # shows only our own names now
    "deploy history": (["deploy", "history", "d"], True),
    "approvals": (["approvals", "cancer", "2"], True),
    "protect list": (["protect", "list", "cancer"], False),
    "logs query": (["logs", "query", "--endpoint", "cancer", "--since", "1d"], True),
    "monitor history": (["monitor", "history", "cancer"], False),
    "alerts list": (["alerts", "list"], False),
    "rollout status": (["rollout", "status", "cancer"], False),
    "card": (["card", "cancer", "1"], True),
    "db check": (["db", "check"], False),
    "audit verify": (["audit", "verify"], False),
    "tokens list": (["tokens", "list"], False),
}

NOT_READ = {
    "register", "tag set", "tag delete", "alias set", "alias delete", "deploy create",
    "deploy set", "protect set", "protect delete", "approve", "reject", "rollout start",
    "rollout pause", "rollout resume", "rollout promote", "rollout abort", "rollout rollback",
    "monitor run", "report", "predict", "apply", "retrain", "serve", "controller", "demo",
    "feedback ingest", "db upgrade", "models delete", "versions delete", "gc",
    "tokens create", "tokens revoke", "trust", "import mlflow", "convert", "score", "build", "k8s",
    "explain",  # reads a file of rows; swept with hostile column names in test_explain.py
    "drift",  # reads files, not the home: swept in test_drift_cli.py
    "ui",  # a web server: its pages escape user text (tests/interfaces/console)
}  # fmt: skip


def all_commands() -> set[str]:
    def walk(command: object, path: list[str]) -> set[str]:
        subs = (
            command.load_all()
            if isinstance(command, LazyGroup)
            else getattr(command, "commands", None)
        )
        if not subs:
            return {" ".join(path)}
        runs_alone = (
            {" ".join(path)} if getattr(command, "invoke_without_command", False) else set()
        )
        return runs_alone.union(*(walk(c, [*path, n]) for n, c in subs.items()))

    return walk(typer.main.get_command(app), [])


def test_every_command_is_swept_or_listed_as_a_writer() -> None:
    assert all_commands() == set(READ_COMMANDS) | NOT_READ


@pytest.fixture
def hostile_home(
    cli: Cli, tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> Path:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="cancer", X_sample=X)
    steps = [
        ["register", str(tmp_path / "pkg"), "--description", HOSTILE, "--tag", f"k={HOSTILE}"],
        ["register", str(tmp_path / "pkg")],
        ["tag", "set", "cancer", "owner", HOSTILE],
        ["deploy", "create", "d", "-r", "cancer/1=100", "--description", HOSTILE],
        ["deploy", "set", "d", "-r", "cancer@champion=100", "--reason", HOSTILE],
        ["protect", "set", "cancer", "champion"],
        ["rollout", "start", "cancer", "--to", "2", "--interval", "1h"],
        ["monitor", "run", "cancer"],
    ]
    for args in steps:
        if args[0] == "deploy" and args[1] == "set":  # a move by a principal named in hostile text
            services = build(load_settings(), actor=HOSTILE)
            try:
                services.registry.set_alias("cancer", "champion", 1, reason=HOSTILE)
            finally:
                services.close()
        if args[0] == "rollout":  # an approval from a verified principal named in hostile text
            services = build(load_settings(), actor=HOSTILE)
            try:
                services.governance.approve("cancer", 2, actor=HOSTILE, comment=HOSTILE)
            finally:
                services.close()
        code, _, err = cli(*args)
        assert code == 0, (args, err)
    # a prediction whose request id and input came from the network
    home = tmp_path / "home"
    with SegmentWriter(str(home / "logs")) as writer:
        writer.submit(
            PredictionEvent(
                request_id=HOSTILE,
                ts=time.time(),
                endpoint="cancer",
                model="cancer",
                version=1,
                route="primary",
                status="ok",
                latency_ms=1.0,
                inputs=pd.DataFrame({"plan": [HOSTILE]}),
                predictions=np.ones(1, dtype=np.int64),
            )
        )
    return home


def test_read_commands_print_outside_text_literally(cli: Cli, hostile_home: Path) -> None:
    for name, (args, shows) in READ_COMMANDS.items():
        code, out, err = cli(*args)
        assert code == 0, (name, err)
        assert "Traceback" not in err
        if shows:
            assert HOSTILE in out, (name, out)
        assert "❌" not in out, name  # :x: stayed text
