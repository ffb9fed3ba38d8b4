"""The CLI against a real ``shipyard serve`` with tokens: alias, approve and rollout commands go
through the management API, with no database on the client's side, as verified principals."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.testing import ThresholdModel
from tests.serving.conftest import start_server

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0]})


def _cli(client_home: Path, url: str, token: str | None, *args: str) -> tuple[int, Any, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_HOME": str(client_home), "SHIPYARD_URL": url})
    if token is not None:
        env["SHIPYARD_TOKEN"] = token
    run = subprocess.run(
        [sys.executable, "-m", "shipyard.interfaces.cli.main", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    out = json.loads(run.stdout) if run.returncode == 0 and run.stdout.strip() else None
    return run.returncode, out, run.stderr


def test_remote_cli_alias_approve_and_rollout(tmp_path: Path) -> None:
    home = tmp_path / "server"
    services = build(Settings(home=home), actor="alice")
    try:
        for t in (0.5, 1.5):
            services.registry.log_model(ThresholdModel("x", t), name="cancer", X_sample=FRAME)
        services.registry.set_alias("cancer", "champion", 1)
        services.governance.protect("cancer", "champion", required_approvals=2)
        tokens = {
            name: services.tokens.create(name, [role], actor="root").secret
            for name, role in (
                ("ops", "operator"),
                ("bob", "approver"),
                ("carol", "approver"),
                ("root", "admin"),
            )
        }
    finally:
        services.close()
    server = start_server(home, "cancer@champion", "--no-controller")
    client_home = tmp_path / "client"  # never created: the client opens no database
    try:
        code, _, err = _cli(client_home, server.url, None, "alias", "show", "cancer", "champion")
        assert code == 9 and "needs a token" in err  # Unauthenticated
        code, _, err = _cli(client_home, server.url, "shy_wrong", "models", "list")
        assert code == 9 and "unknown" in err

        code, _, err = _cli(client_home, server.url, tokens["ops"], "approve", "cancer", "2")
        assert code == 10 and "lacks the approve permission" in err  # Forbidden
        code, first, err = _cli(client_home, server.url, tokens["bob"], "approve", "cancer", "2")
        assert code == 0, err
        assert first["status"] == "pending" and [a["actor"] for a in first["approvals"]] == ["bob"]
        code, _, err = _cli(client_home, server.url, tokens["bob"], "approve", "cancer", "2")
        assert code == 4 and "already approved" in err  # one principal, one approval
        code, second, err = _cli(
            client_home, server.url, tokens["carol"], "approve", "cancer", "2", "-m", "ok"
        )
        assert code == 0 and second["status"] == "approved", err

        code, record, err = _cli(
            client_home, server.url, tokens["ops"], "rollout", "start", "cancer", "--to", "2"
        )
        assert code == 0 and record["status"] == "running", err
        code, status, err = _cli(
            client_home, server.url, tokens["ops"], "rollout", "status", "cancer"
        )
        assert code == 0 and status["rollout"]["created_by"] == "ops", err
        code, aborted, err = _cli(
            client_home, server.url, tokens["ops"], "rollout", "abort", "cancer"
        )
        assert code == 0 and aborted["status"] == "aborted", err

        code, moved, err = _cli(
            client_home, server.url, tokens["ops"], "alias", "set", "cancer", "staging", "2"
        )
        assert code == 0 and moved["to_version"] == 2 and moved["actor"] == "ops", err
        code, _, err = _cli(
            client_home, server.url, tokens["ops"], "alias", "set", "cancer", "champion", "2"
        )
        assert code == 10 and "protect" in err  # a protected alias by hand: admins only
        code, moved, err = _cli(
            client_home, server.url, tokens["root"], "alias", "set", "cancer", "champion", "2"
        )
        assert code == 0 and (moved["from_version"], moved["to_version"]) == (1, 2), err

        code, events, err = _cli(
            client_home, server.url, tokens["root"], "audit", "--target", "cancer"
        )
        assert code == 0, err
        actors = {(e["action"], e["actor"]) for e in events}
        assert {("approval.approve", "bob"), ("approval.approve", "carol")} <= actors
        assert {("alias.set", "ops"), ("alias.set", "root"), ("rollout.start", "ops")} <= actors
        code, verified, err = _cli(client_home, server.url, tokens["root"], "audit", "verify")
        assert code == 0 and verified["ok"], err
        assert not client_home.exists()
    finally:
        server.stop()
