"""Retention settings (environment and shipyard.yaml) and the controller running log maintenance."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shipyard.app import build, log_retention
from shipyard.core.config import Settings
from shipyard.core.errors import InvalidArgument
from shipyard.lifecycle.project import parse
from tests.telemetry.test_compaction import files, fill, rows_seen


def test_retention_from_the_environment_and_the_project() -> None:
    assert log_retention(Settings()) == timedelta(days=30)
    assert log_retention(Settings(log_retention="12h")) == timedelta(hours=12)
    with pytest.raises(InvalidArgument, match="SHIPYARD_LOG_RETENTION"):
        log_retention(Settings(log_retention="soon"))
    project = parse("retention:\n  churn: 7d\n  fraud: 36h\n")
    assert project.retention_periods() == {"churn": timedelta(days=7), "fraud": timedelta(hours=36)}
    with pytest.raises(InvalidArgument, match=r"shipyard.yaml:2: retention.churn: .*'forever'"):
        parse("retention:\n  churn: forever\n")


def test_the_controller_compacts_the_log(tmp_path: Path) -> None:
    project = tmp_path / "shipyard.yaml"
    project.write_text("retention:\n  churn: 3650d\n")
    services = build(Settings(home=tmp_path / "home", project=project))
    root = Path(services.settings.resolved_logs_uri())
    fill(root, hours=3, per_hour=2)
    before = rows_seen(root)
    try:
        controller = services.controller()
        assert controller.maintenance is not None
        assert controller.maintenance.per_endpoint == {"churn": timedelta(days=3650)}
        assert controller.tick()
        controller.maintenance.join(60)
        assert [n.split("-")[0] for n in files(root)] == ["day"]
        assert rows_seen(root) == before
        controller.stop()
    finally:
        services.close()
