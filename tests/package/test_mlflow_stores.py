"""``runs:/`` and ``models:/`` URIs of MLflow tracking stores on disk, read without mlflow.

The stores (a sqlite database and a file store) were written by mlflow 3.17.2
(tests/fixtures/mlflow_stores, rebuilt by its make_stores.py, which also recorded what mlflow's
``pyfunc.load_model(uri)`` predicts for each URI). Their artifact locations are relative, which
MLflow (and Shipyard) read against the working directory: the tests run from the store's folder.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from shipyard.core.errors import InvalidArgument, MissingDependency, NotFound
from shipyard.registry.service import RegistryService

STORES = Path(__file__).parent.parent / "fixtures" / "mlflow_stores"
EXPECTED: dict[str, Any] = json.loads((STORES / "expected.json").read_text())

pytest.importorskip("skops")


def _sqlite(tmp_path: Path) -> str:
    """The committed SQL dump loaded into a database file, as a tracking URI."""
    db = sqlite3.connect(tmp_path / "mlflow.db")
    try:
        db.executescript((STORES / "sqlite" / "mlflow.sql").read_text())
    finally:
        db.close()
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(params=["sqlite", "file"])
def mlflow_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """``(store kind, tracking URI)``, with the store's folder as the working directory."""
    kind = str(request.param)
    monkeypatch.chdir(STORES / kind)
    if kind == "sqlite":
        return kind, _sqlite(tmp_path)
    return kind, (STORES / "file" / "mlruns").as_uri()


def _example() -> pd.DataFrame:
    # the rows mlflow predicted on: make_stores.data().head(5), kept in every model folder
    folder = next((STORES / "file" / "mlruns").glob("*/models/*/artifacts"))
    doc = json.loads((folder / "input_example.json").read_text())
    return pd.DataFrame(doc["data"], columns=doc["columns"])


def test_every_uri_resolves_to_the_model_mlflow_loads(
    registry: RegistryService, mlflow_store: tuple[str, str]
) -> None:
    kind, tracking_uri = mlflow_store
    expected = EXPECTED[kind]
    runs = {run["run_id"]: name for name, run in expected["runs"].items()}
    example = _example()
    for uri, answer in expected["uris"].items():
        version = registry.import_mlflow(uri, name="churn", tracking_uri=tracking_uri)
        model = registry.load(version.ref)
        assert model.predict(example).tolist() == answer["predictions"], uri
        # the run that made it: from the MLmodel file, or from the runs:/ URI for a model saved
        # into a run's artifacts by hand (its MLmodel names no run)
        run_id = answer["run_id"] or uri.split("/")[1]
        assert model.manifest.lineage.extra["mlflow_run_id"] == run_id, uri
        assert model.manifest.lineage.dataset_uri == uri
        run = expected["runs"][runs[run_id]]
        assert model.manifest.params == run["params"], uri
        assert model.manifest.metrics == run["metrics"], uri
    # the versions predict differently, so a wrong resolution above would have been caught
    one, two = (expected["uris"][f"models:/churn/{n}"]["predictions"] for n in (1, 2))
    assert one != two


def test_a_plain_mlruns_path_is_a_file_store(
    registry: RegistryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(STORES / "file")
    version = registry.import_mlflow("models:/churn@champion", name="c", tracking_uri="mlruns")
    predictions = registry.load(version.ref).predict(_example()).tolist()
    assert predictions == EXPECTED["file"]["uris"]["models:/churn@champion"]["predictions"]


@pytest.mark.parametrize(
    ("uri", "error", "message"),
    [
        ("runs:/0123456789abcdef0123456789abcdef/model", NotFound, "run 0123456789abcdef"),
        ("runs:/{second}/nothing", NotFound, "no model at 'nothing'"),
        ("runs:/../model", InvalidArgument, "'..' is not a valid run id"),
        ("models:/churn/7", NotFound, "models:/churn/7: no such model version"),
        ("models:/nobody/1", NotFound, "registered model 'nobody' not found"),
        ("models:/churn@challenger", NotFound, "alias churn@challenger not found"),
        ("models:/churn/Canary", InvalidArgument, "'Canary' is not a version, 'latest' or"),
        ("models:/churn/1/extra", InvalidArgument, "expected models:/<name>/<version"),
        ("models:/m-0000", NotFound, "logged model m-0000 not found"),
    ],
)
def test_what_is_not_in_the_store_is_one_line(
    registry: RegistryService, mlflow_store: tuple[str, str], uri: str, error: type, message: str
) -> None:
    kind, tracking_uri = mlflow_store
    uri = uri.format(second=EXPECTED[kind]["runs"]["second"]["run_id"])
    with pytest.raises(error, match=message.replace("(", r"\(")) as info:
        registry.import_mlflow(uri, name="churn", tracking_uri=tracking_uri)
    assert "\n" not in str(info.value)


def test_missing_or_malformed_tracking_stores(registry: RegistryService, tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no MLflow database at"):
        registry.import_mlflow("models:/a/1", name="a", tracking_uri=f"sqlite:///{tmp_path}/x.db")
    with pytest.raises(NotFound, match="no MLflow file store at"):
        registry.import_mlflow("models:/a/1", name="a", tracking_uri=str(tmp_path / "mlruns"))
    with pytest.raises(InvalidArgument, match="expected sqlite:///"):
        registry.import_mlflow("models:/a/1", name="a", tracking_uri="sqlite://")
    (tmp_path / "junk.db").write_text("not a database")
    with pytest.raises(InvalidArgument, match="cannot be read"):
        registry.import_mlflow(
            "models:/a/1", name="a", tracking_uri=f"sqlite:///{tmp_path}/junk.db"
        )


def test_what_only_mlflow_can_read_names_the_extra(
    registry: RegistryService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only where the mlflow extra is installed
        pytest.skip("mlflow is installed: it reads these itself")
    monkeypatch.chdir(STORES / "sqlite")
    tracking_uri = _sqlite(tmp_path)
    db = sqlite3.connect(tmp_path / "mlflow.db")
    with db:
        db.execute(
            "UPDATE model_versions SET storage_location = 's3://bucket/churn/1' WHERE version = 1"
        )
    db.close()
    with pytest.raises(
        MissingDependency, match=r"reading s3://bucket/churn/1 \(where models:/churn/1"
    ) as info:
        registry.import_mlflow("models:/churn/1", name="churn", tracking_uri=tracking_uri)
    assert "pip install 'shipyard[mlflow]'" in str(info.value)
    with pytest.raises(MissingDependency, match=r"reading http://127.0.0.1:5000 \(not a sqlite"):
        registry.import_mlflow(
            "models:/churn/1", name="churn", tracking_uri="http://127.0.0.1:5000"
        )
    # the rest of the store still reads without mlflow
    version = registry.import_mlflow("models:/churn/2", name="churn", tracking_uri=tracking_uri)
    assert (
        np.asarray(registry.load(version.ref).predict(_example())).tolist()
        == (EXPECTED["sqlite"]["uris"]["models:/churn/2"]["predictions"])
    )
