"""Batch scoring on the local engine: formats, order, bad rows, atomic output, logging, the CLI."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from shipyard.app import Services, build
from shipyard.core.config import Settings
from shipyard.core.errors import SchemaError
from shipyard.serving.scoring import ScoreOptions


@pytest.fixture
def home(model_home: Path, tmp_path: Path) -> Path:
    """A private copy of the serving registry (batch jobs write to its log)."""
    copy = tmp_path / "home"
    shutil.copytree(model_home, copy, ignore=shutil.ignore_patterns("logs"))
    return copy


@pytest.fixture
def svc(home: Path) -> Iterator[Services]:
    services = build(Settings(home=home, actor="tester"))
    yield services
    services.close()


@pytest.fixture
def cancer_file(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series]
) -> tuple[Path, pd.DataFrame]:
    X, _ = cancer
    frame = X.assign(customer=[f"c{i:04d}" for i in range(len(X))])
    path = tmp_path / "in.parquet"
    frame.to_parquet(path, row_group_size=100)  # several row groups: streamed, not read whole
    return path, frame


def test_parquet_in_order_with_kept_columns_and_probabilities(
    svc: Services, cancer_file: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, frame = cancer_file
    out = tmp_path / "out" / "scored.parquet"
    seen: list[int] = []
    result = svc.batch_scoring().score(
        "cancer@champion",
        [str(path)],
        str(out),
        ScoreOptions(batch_size=64, proba=True),
        progress=lambda rows, fraction: seen.append(rows),
    )
    scored = pd.read_parquet(out)
    model = svc.registry.load("cancer/1")
    features = frame.drop(columns="customer")
    assert result.rows == len(frame) == len(scored)
    assert list(scored.columns) == [*frame.columns, "prediction", "proba_0", "proba_1"]
    pd.testing.assert_frame_equal(scored[frame.columns], frame)  # order and values kept
    assert np.array_equal(scored["prediction"], model.predict(features))
    assert np.allclose(scored[["proba_0", "proba_1"]], model.predict_proba(features))
    # chunks of at most 64 rows within each 100-row group: 64 + 36 per group, then 64 + 5
    assert seen == sorted(seen) and seen[-1] == len(frame) and len(seen) == 12
    assert pq.ParquetFile(out).metadata.num_row_groups == 12
    assert [p.name for p in out.parent.iterdir()] == ["scored.parquet"]  # no temp file left
    audit = svc.registry.audit(action="batch.score")
    assert audit[0].target == "cancer/1" and audit[0].details["rows"] == len(frame)


def test_a_parquet_chunk_with_a_bad_row_is_scored_row_by_row_around_it(
    svc: Services, cancer_file: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    """Chunks that validate stay in Arrow; the one with an infinite value takes the DataFrame
    path, which finds the row; both kinds land in one output file, in order."""
    _, frame = cancer_file
    frame = frame.copy()
    frame.loc[150, "mean radius"] = np.inf
    path = tmp_path / "bad.parquet"
    frame.to_parquet(path, row_group_size=100)
    out = tmp_path / "out.parquet"
    result = svc.batch_scoring().score(
        "cancer@champion",
        [str(path)],
        str(out),
        ScoreOptions(batch_size=64, on_error="skip", columns=("customer",)),
    )
    assert result.rows == len(frame) - 1 and result.rejected == 1
    rejects = pd.read_parquet(tmp_path / "out.rejects.parquet")
    assert rejects["_row"].tolist() == [150] and "mean radius" in rejects["_error"][0]
    scored = pd.read_parquet(out)
    good = frame.drop(index=150)
    assert scored["customer"].tolist() == good["customer"].tolist()
    model = svc.registry.load("cancer/1")
    expected = model.predict(good.drop(columns="customer"))
    assert scored["prediction"].tolist() == expected.tolist()


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_text_formats_round_trip_with_selected_columns(
    svc: Services,
    mixed_frame: tuple[pd.DataFrame, pd.Series],
    tmp_path: Path,
    suffix: str,
) -> None:
    frame = mixed_frame[0]
    path = tmp_path / f"in.{suffix}"
    if suffix == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    out = tmp_path / f"out.{suffix}"
    svc.batch_scoring().score(
        "mixed@champion", [str(path)], str(out), ScoreOptions(batch_size=50, columns=("age",))
    )
    scored = pd.read_csv(out) if suffix == "csv" else pd.read_json(out, lines=True)
    assert list(scored.columns) == ["age", "prediction"]
    assert scored["age"].tolist() == frame["age"].tolist()
    expected = svc.registry.load("mixed/1").predict(frame)
    assert scored["prediction"].tolist() == expected.tolist()


def _with_bad_cell(frame: pd.DataFrame, path: Path, row: int) -> None:
    text = frame.astype(object)
    text.loc[row, "income"] = "lots"
    text.to_csv(path, index=False)


def test_a_bad_row_is_named_and_no_output_appears(
    svc: Services, mixed_frame: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    path = files / "in.csv"
    _with_bad_cell(mixed_frame[0], path, 150)
    out = files / "out.parquet"
    with pytest.raises(SchemaError) as caught:
        svc.batch_scoring().score(
            "mixed@champion", [str(path)], str(out), ScoreOptions(batch_size=64)
        )
    message = str(caught.value)
    assert f"{path} row 150: column 'income': expected float64, got 'lots'" in message
    assert sorted(p.name for p in files.iterdir()) == ["in.csv"]  # nothing published


def test_skip_sets_bad_rows_aside_and_scores_the_rest(
    svc: Services, mixed_frame: tuple[pd.DataFrame, pd.Series], tmp_path: Path
) -> None:
    frame = mixed_frame[0].copy()
    path = tmp_path / "in.parquet"
    frame = frame.astype({"plan": object})
    frame.loc[7, "plan"] = 3  # a number in a string column: caught by the signature check
    frame.loc[200, "plan"] = 4
    frame.astype({"plan": str}).assign(plan=frame["plan"]).to_json(
        tmp_path / "in.jsonl", orient="records", lines=True
    )
    out = tmp_path / "out.jsonl"
    result = svc.batch_scoring().score(
        "mixed@champion",
        [str(tmp_path / "in.jsonl")],
        str(out),
        ScoreOptions(batch_size=64, on_error="skip"),
    )
    rejects = pd.read_json(tmp_path / "out.rejects.jsonl", lines=True)
    assert result.rejected == 2 and result.rows == len(frame) - 2
    assert rejects["_row"].tolist() == [7, 200]
    assert rejects["_error"].str.contains("column 'plan'").all()
    scored = pd.read_json(out, lines=True)
    assert len(scored) == len(frame) - 2
    assert scored["age"].tolist() == frame.drop(index=[7, 200])["age"].tolist()
    del path


def test_batch_rows_reach_the_log_monitoring_and_feedback_by_id(
    svc: Services, cancer_file: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    path, frame = cancer_file
    svc.batch_scoring().score(
        "cancer@champion",
        [str(path)],
        str(tmp_path / "out.parquet"),
        ScoreOptions(batch_size=128, id_column="customer"),
    )
    logged = svc.logs.predictions("cancer", None, None, route="batch")
    assert len(logged) == len(frame)
    assert sorted(logged["request_id"]) == sorted(frame["customer"])
    assert set(logged["row"]) == {0}
    fed = svc.feedback.append([("c0000", 1), ("c0001", 0)])
    assert fed.accepted == 2 and not fed.unknown_ids
    result = svc.monitoring.run("cancer", record=False)
    assert result.rows == len(frame)
    assert result.label_coverage == pytest.approx(2 / len(frame))


def test_cli_scores_and_reports_json(
    home: Path,
    cancer_file: tuple[Path, pd.DataFrame],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shipyard.interfaces.cli.main import run

    path, frame = cancer_file
    out = tmp_path / "out.csv"
    argv = ["shipyard", "--home", str(home), "score", "cancer@champion", str(path), "-o", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--columns", "customer", "--json"])
    with pytest.raises(SystemExit) as done:
        run()
    assert done.value.code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == len(frame) and report["version"] == "cancer/1"
    assert list(pd.read_csv(out).columns) == ["customer", "prediction"]
    monkeypatch.setattr(sys, "argv", [*argv, "--columns", "nope"])
    with pytest.raises(SystemExit) as exit_:
        run()
    assert exit_.value.code != 0
    assert "no column 'nope'" in capsys.readouterr().err
