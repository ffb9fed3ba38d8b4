"""``shipyard serve --workers 2`` runs one controller, in its supervisor process."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.lifecycle.controller import LEASE
from shipyard.testing import ThresholdModel

from ..serving.conftest import start_server

FRAME = pd.DataFrame({"x": [-0.9, 0.8]})


def test_one_controller_per_server_in_the_supervisor(tmp_path: Path) -> None:
    home = tmp_path / "home"
    services = build(Settings(home=home, actor="tester"))
    services.registry.log_model(ThresholdModel("x", 0.0), name="m", X_sample=FRAME)
    services.registry.set_alias("m", "champion", 1)
    server = start_server(home, "m@champion", "--workers", "2")
    try:
        deadline = time.monotonic() + 60
        while (lease := services.leases.get_lease(LEASE)) is None:
            assert time.monotonic() < deadline, "no controller took the lease"
            time.sleep(0.1)
        assert lease.holder.split(":")[1] == str(server.process.pid)  # the supervisor, no worker
        takers = {e.actor for e in services.registry.audit(action="lease.take")}
        assert takers == {lease.holder}
    finally:
        log = server.stop()
        services.close()
    assert log.count("took the lease") == 1, log
