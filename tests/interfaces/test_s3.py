"""Artifacts, the prediction log and batch files on a real S3 server (moto_server), via the settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.app import build
from shipyard.core.config import Settings
from shipyard.core.errors import IntegrityError
from shipyard.serving.scoring import ScoreOptions
from tests.conftest import S3Server
from tests.telemetry.events import T0, tabular

LATER = T0 + 10 * 86_400


def test_settings_give_s3_options_only_to_s3_urls(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        s3_endpoint_url="http://127.0.0.1:9",
        s3_region="eu-west-1",
        s3_profile="ops",
        storage_options={"s3": {"anon": False}, "gcs": {"token": "x"}},
    )
    assert settings.storage_options_for("s3://b/k") == {
        "endpoint_url": "http://127.0.0.1:9",
        "client_kwargs": {"region_name": "eu-west-1"},
        "profile": "ops",
        "anon": False,
    }
    assert settings.storage_options_for(str(tmp_path)) == {}


def test_register_load_and_tamper_refusal_on_s3(
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: Any,
) -> None:
    X, y = cancer
    svc = build(s3_server.settings(tmp_path / "a", s3_bucket))
    try:
        version = svc.registry.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y)
    finally:
        svc.close()
    fs: Any = s3_server.filesystem()
    blobs = fs.find(f"{s3_bucket}/artifacts")
    assert blobs and all("/sha256/" in b for b in blobs)
    # a second machine: same database, same bucket, an empty local cache
    db = f"sqlite:///{tmp_path / 'a' / 'registry.db'}"
    other = build(s3_server.settings(tmp_path / "b", s3_bucket, database_url=db))
    try:
        model = other.registry.load(f"cancer/{version.version}")
        assert np.array_equal(model.predict(X.head(20)), cancer_model.predict(X.head(20)))
    finally:
        other.close()
    biggest = max(blobs, key=lambda b: fs.size(b))
    data = bytearray(fs.cat_file(biggest))
    data[len(data) // 2] ^= 0xFF
    fs.pipe_file(biggest, bytes(data))
    third = build(s3_server.settings(tmp_path / "c", s3_bucket, database_url=db))
    try:
        with pytest.raises(IntegrityError):
            third.registry.load(f"cancer/{version.version}")
    finally:
        third.close()


def test_prediction_log_and_compaction_on_s3(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    svc = build(s3_server.settings(tmp_path, s3_bucket))
    try:
        writer = svc.log_writer()
        for hour in range(3):
            for k in range(4):
                writer.submit(tabular(f"r{hour}-{k}", ts=T0 + hour * 3600 + k, rows=2))
            writer.flush()
        writer.close()
        fs: Any = s3_server.filesystem()
        raw = [p.rsplit("/", 1)[-1] for p in fs.find(f"{s3_bucket}/logs/predictions")]
        assert len(raw) == 3 and all(n.startswith("part-") for n in raw)
        assert svc.logs.count("churn") == 24
        report = svc.log_maintenance().compact(now=LATER)
        assert report.rows == 24
        fs.invalidate_cache()
        kept = [p.rsplit("/", 1)[-1] for p in fs.find(f"{s3_bucket}/logs/predictions")]
        assert [n.split("-")[0] for n in kept] == ["day"]
        frame = svc.logs.predictions("churn")
        assert len(frame) == 24 and frame["ts"].is_monotonic_increasing
    finally:
        svc.close()


def test_score_from_s3_to_s3(
    s3_server: S3Server,
    s3_bucket: str,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: Any,
) -> None:
    X, y = cancer
    fs: Any = s3_server.filesystem()
    local = tmp_path / "in.parquet"
    X.to_parquet(local, row_group_size=200)
    fs.put_file(str(local), f"{s3_bucket}/in/rows.parquet")
    svc = build(s3_server.settings(tmp_path / "home", s3_bucket))
    try:
        svc.registry.log_model(cancer_model, name="cancer", X_sample=X, y_sample=y)
        result = svc.batch_scoring().score(
            "cancer/1",
            [f"s3://{s3_bucket}/in/rows.parquet"],
            f"s3://{s3_bucket}/out/scored.parquet",
            ScoreOptions(batch_size=100, proba=True),
        )
        assert result.rows == len(X) and result.logged_rows == len(X)
        assert svc.logs.count("cancer") == len(X)
    finally:
        svc.close()
    fs.invalidate_cache()
    assert fs.ls(f"{s3_bucket}/out", detail=False) == [f"{s3_bucket}/out/scored.parquet"]
    with fs.open(f"{s3_bucket}/out/scored.parquet", "rb") as fh:
        scored = pd.read_parquet(fh)
    assert np.array_equal(scored["prediction"], cancer_model.predict(X))
    assert np.allclose(scored["proba_1"], cancer_model.predict_proba(X)[:, 1])
