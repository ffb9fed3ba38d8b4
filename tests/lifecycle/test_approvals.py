"""A rollout to a protected alias waits for approval; alias moves are guarded everywhere."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.core.errors import Conflict
from shipyard.testing import ThresholdModel

FRAME = pd.DataFrame({"x": [0.0, 1.0, 2.0]})


def test_rollout_to_a_protected_alias_waits_for_approval(tmp_path: Path) -> None:
    svc = build(Settings(home=tmp_path / "h"), actor="alice")
    try:
        for t in (0.0, 0.5, 1.5):
            svc.registry.log_model(ThresholdModel("x", t), name="m", X_sample=FRAME)
        svc.registry.set_alias("m", "champion", 1)
        svc.governance.protect("m", "champion", required_approvals=1)
        with pytest.raises(Conflict, match="needs 1 approval"):
            svc.registry.set_alias("m", "champion", 2)
        with pytest.raises(Conflict, match="cannot approve their own version"):
            svc.governance.approve("m", 2, actor="alice")
        record = svc.rollouts.start("m", to_version=2, interval=5)
        assert record.status == "pending_approval"
        assert svc.deployments.store.find("m") is None  # no traffic moved
        assert svc.rollouts.tick(record).status == "pending_approval"
        svc.governance.approve("m", 2, actor="bob", comment="looks good")
        running = svc.rollouts.tick(record)
        assert running.status == "running"
        assert [r.target for r in svc.deployments.get("m").spec.routes] == ["m/1", "m/2"]
        assert [e.kind for e in svc.rollouts.status("m").events] == ["start", "approved"]
        svc.rollouts.abort("m")
        svc.governance.reject("m", 3, actor="bob", comment="no")
        with pytest.raises(Conflict, match="m/3 was rejected"):
            svc.rollouts.start("m", to_version=3)
    finally:
        svc.close()
