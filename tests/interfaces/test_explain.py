"""``shipyard explain REF FILE`` and ``Client.explain`` (local, and remote against a real server)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard import Explanation
from shipyard.interfaces.sdk import Client
from tests.interfaces.test_cli import Cli
from tests.serving.conftest import start_server

pytest.importorskip("shap")


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("COLUMNS", "200")
    return Cli(capsys, monkeypatch)


@pytest.fixture
def registered(mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: Any) -> Path:
    X, y = mixed_frame
    home = Path(os.environ["SHIPYARD_HOME"])
    with Client(home=home) as client:
        client.log_model(mixed_pipeline, name="mixed", X_sample=X, y_sample=y)
    return home


def test_cli_explain_prints_json_and_tables(
    cli: Cli,
    registered: Path,
    tmp_path: Path,
    mixed_frame: tuple[pd.DataFrame, pd.Series],
    mixed_pipeline: Any,
) -> None:
    X, _ = mixed_frame
    rows = tmp_path / "rows.csv"
    X.head(3).to_csv(rows, index=False)
    doc = cli.json("explain", "mixed/1", str(rows))
    assert isinstance(doc, dict)
    assert doc["method"] == "tree_shap" and doc["exact"] is True
    totals = [r["base_value"] + sum(r["attributions"].values()) for r in doc["explanations"]]
    expected = mixed_pipeline.predict_proba(pd.read_csv(rows))[:, 1]
    assert np.abs(np.array(totals) - expected).max() < 1e-6
    code, out, _ = cli("explain", "mixed/1", str(rows), "--class", "0")
    assert code == 0
    assert "row 0: prediction" in out and "class 0" in out and "plan" in out
    code, _, err = cli("explain", "mixed/1", str(tmp_path / "missing.csv"))
    assert code != 0 and "missing.csv" in err and "Traceback" not in err


def test_cli_explain_prints_column_names_literally(cli: Cli, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    hostile = "[/red]:x:[b]"
    rng = np.random.default_rng(0)
    X = pd.DataFrame({hostile: rng.normal(size=60), "plain": rng.normal(size=60)})
    y = (X[hostile] > 0).astype(int)
    with Client(home=Path(os.environ["SHIPYARD_HOME"])) as client:
        client.log_model(LogisticRegression().fit(X, y), name="odd", X_sample=X, y_sample=y)
    rows = tmp_path / "rows.csv"
    X.head(2).to_csv(rows, index=False)
    code, out, err = cli("explain", "odd/1", str(rows))
    assert code == 0, err
    assert hostile in out


def test_sdk_explain_local_and_remote_agree(
    registered: Path, mixed_frame: tuple[pd.DataFrame, pd.Series]
) -> None:
    X, _ = mixed_frame
    rows = X.head(5)
    with Client(home=registered) as local:
        here = local.explain("mixed/1", rows)
    assert isinstance(here, Explanation)
    server = start_server(registered, "mixed=mixed/1")
    try:
        with Client(server.url) as remote:
            there = remote.explain("mixed", rows, explained_class=1)
            with pytest.raises(Exception, match="target"):
                remote.explain("mixed", rows, explained_class="nope")
    finally:
        server.stop()
    assert there.columns == here.columns
    assert np.allclose(there.attributions, here.attributions, atol=1e-12)
    assert np.allclose(there.base_values, here.base_values)
    assert there.explained_classes == here.explained_classes
    assert json.dumps(there.to_dict())  # plain values all the way down
