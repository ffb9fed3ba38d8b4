"""Batch scoring on Ray Data: the same output as the local engine, bad rows, the log from actors."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.serving.scoring import ScoreOptions

pytestmark = pytest.mark.timeout(600)


@pytest.fixture
def svc(model_home: Path, tmp_path: Path, ray_cluster: object) -> Iterator[Services]:
    home = tmp_path / "home"
    shutil.copytree(model_home, home, ignore=shutil.ignore_patterns("logs"))
    services = build(Settings(home=home, actor="tester"))
    yield services
    services.close()


def test_ray_engine_matches_the_local_engine_and_logs_from_actors(
    svc: Services, mixed_frame: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    frame = mixed_frame[0].copy().astype({"plan": object})
    frame.loc[7, "plan"] = 3  # a bad row: a number in a string column
    frame.loc[250, "plan"] = 4
    frame["key"] = [f"k{i}" for i in range(len(frame))]
    source = tmp_path / "in.jsonl"
    frame.to_json(source, orient="records", lines=True)
    options = ScoreOptions(batch_size=40, on_error="skip", proba=True, id_column="key")
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.parquet"
        result = svc.batch_scoring().score(
            "mixed@champion",
            [str(source)],
            str(out),
            options,
            engine=engine,  # type: ignore[arg-type]
            rejects=str(tmp_path / f"{engine}.rejects.parquet"),
            ray_workers=2,
        )
        assert result.rows == len(frame) - 2 and result.rejected == 2
        outputs[engine] = pd.read_parquet(out)
        rejects = pd.read_parquet(tmp_path / f"{engine}.rejects.parquet")
        assert rejects["_row"].tolist() == [7, 250]
    pd.testing.assert_frame_equal(outputs["ray"], outputs["local"], check_dtype=False)
    logged = svc.logs.predictions("mixed", None, None, route="batch")
    assert len(logged) == 2 * (len(frame) - 2)  # both jobs, every scored row
    assert logged["request_id"].value_counts().max() == 2


def test_parquet_on_as_many_actors_as_cpus_matches_the_local_engine(
    svc: Services, cancer: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    """Every CPU held by an actor (2 actors, 2 CPUs): the Parquet read still progresses (Ray's
    V2 reader listed files in a CPU task that never ran). Blocks that all validate stay in
    Arrow end to end; the one with an infinite value is split into scored rows and a reject."""
    X, _ = cancer
    frame = X.assign(customer=[f"c{i:04d}" for i in range(len(X))])
    frame.loc[150, "mean radius"] = np.inf
    source = tmp_path / "in.parquet"
    frame.to_parquet(source, row_group_size=100)
    options = ScoreOptions(
        batch_size=64, on_error="skip", proba=True, columns=("customer",), id_column="customer"
    )
    outputs = {}
    for engine in ("local", "ray"):
        out = tmp_path / f"{engine}.parquet"
        result = svc.batch_scoring().score(
            "cancer@champion",
            [str(source)],
            str(out),
            options,
            engine=engine,  # type: ignore[arg-type]
            rejects=str(tmp_path / f"{engine}.rejects.parquet"),
            ray_workers=2,
        )
        assert result.rows == len(frame) - 1 and result.rejected == 1
        outputs[engine] = pd.read_parquet(out)
        assert pd.read_parquet(tmp_path / f"{engine}.rejects.parquet")["_row"].tolist() == [150]
    assert list(outputs["ray"].columns) == ["customer", "prediction", "proba_0", "proba_1"]
    pd.testing.assert_frame_equal(outputs["ray"], outputs["local"])
    assert outputs["ray"]["customer"].tolist() == frame.drop(index=150)["customer"].tolist()
