"""Writing, verifying and loading packages: round trips, integrity, pickle refusal."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from shipyard import package
from shipyard.core.errors import (
    IntegrityError,
    InvalidArgument,
    PackageError,
    UnsafeFormatError,
    UntrustedCode,
)
from shipyard.testing import ThresholdModel


def test_sklearn_pipeline_with_mixed_columns_round_trips(
    tmp_path: Path, mixed_frame: tuple[pd.DataFrame, pd.Series], mixed_pipeline: object
) -> None:
    X, y = mixed_frame
    manifest = package.save(
        mixed_pipeline,
        tmp_path / "pkg",
        name="churn",
        X_sample=X,
        y_sample=y,
        metrics={"auc": 0.91},
        params={"trees": 20},
        tags={"team": "growth"},
        dataset_name="synthetic",
    )
    assert manifest.flavor.name == "sklearn" and manifest.flavor.serialization == "skops"
    model = package.load(tmp_path / "pkg")
    np.testing.assert_array_equal(model.predict(X), mixed_pipeline.predict(X))  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.predict_proba(X), mixed_pipeline.predict_proba(X))  # type: ignore[attr-defined]
    records = X.head(5).to_dict("records")
    np.testing.assert_array_equal(model.predict(records), mixed_pipeline.predict(X.head(5)))  # type: ignore[attr-defined]
    sig = model.signature
    assert [(c.name, c.dtype, c.nullable) for c in sig.columns] == [
        ("age", "int64", False),
        ("income", "float64", False),
        ("plan", "string", False),
        ("region", "string", False),
        ("tenure", "float64", True),
    ]
    assert sig.output("prediction") is not None and sig.output("prediction").classes == (0, 1)  # type: ignore[union-attr]
    assert sig.output("probabilities").shape == (-1, 2)  # type: ignore[union-attr]
    assert manifest.requirements.packages["scikit-learn"]
    assert manifest.lineage.data_digest and manifest.lineage.dataset_name == "synthetic"
    assert model.input_example()[0].keys() == {"age", "income", "plan", "region", "tenure"}
    profiles = model.reference_profiles
    assert profiles["inputs"].rows == len(X)
    assert set(profiles["outputs"].columns) == {"prediction", "proba_0", "proba_1", "label"}


def test_manifest_records_git_lineage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    for cmd in (
        ["init", "-q"],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty", "-m", "x"],
    ):
        subprocess.run(["git", *cmd], cwd=repo, check=True)
    (repo / "f.txt").write_text("x")
    subprocess.run(["git", "add", "f.txt"], cwd=repo, check=True)
    monkeypatch.chdir(repo)
    frame = pd.DataFrame({"x": [0.1, 0.7, -1.0]})
    manifest = package.save(ThresholdModel(), tmp_path / "pkg", name="t", X_sample=frame)
    assert manifest.lineage.git_commit is not None and len(manifest.lineage.git_commit) == 40
    assert manifest.lineage.git_dirty is True


@pytest.mark.parametrize("victim", ["model.skops", "profile.json", "input_example.json"])
def test_one_flipped_byte_refuses_to_load(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object, victim: str
) -> None:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="c", X_sample=X)
    path = tmp_path / "pkg" / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x20
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"package file {victim} is corrupted or was modified"):
        package.load(tmp_path / "pkg")


def test_edited_manifest_is_detected(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="c", X_sample=X)
    manifest_path = tmp_path / "pkg" / "shipyard.yaml"
    data = yaml.safe_load(manifest_path.read_text())
    data["metrics"] = {"accuracy": 1.0}
    manifest_path.write_text(yaml.safe_dump(data))
    with pytest.raises(IntegrityError, match="shipyard.yaml was modified"):
        package.load(tmp_path / "pkg")


def test_manifest_paths_cannot_escape_the_package(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    manifest = package.save(cancer_model, tmp_path / "pkg", name="c", X_sample=X)
    bad = manifest.model_copy(update={"files": {**manifest.files, "../outside": "sha256:00"}})
    bad = bad.model_copy(update={"digest": bad.compute_digest()})
    (tmp_path / "pkg" / "shipyard.yaml").write_text(bad.to_yaml())
    with pytest.raises(IntegrityError, match="unsafe path '../outside'"):
        package.load(tmp_path / "pkg")


def test_pickle_is_refused_without_opt_in(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    manifest = package.save(
        cancer_model,
        tmp_path / "pkg",
        name="c",
        X_sample=X,
        flavor_options={"serialization": "pickle"},
    )
    assert manifest.flavor.serialization == "pickle"
    with pytest.raises(UnsafeFormatError) as info:
        package.load(tmp_path / "pkg")
    message = str(info.value)
    assert "pickle can run arbitrary code" in message
    assert "allow_pickle=True" in message and "--allow-pickle" in message
    model = package.load(tmp_path / "pkg", allow_pickle=True)
    np.testing.assert_array_equal(model.predict(X), cancer_model.predict(X))  # type: ignore[attr-defined]


def test_a_pickle_file_slipped_into_a_skops_package_is_never_unpickled(
    tmp_path: Path, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="c", X_sample=X)
    (tmp_path / "pkg" / "model.skops").write_bytes(pickle.dumps(cancer_model))
    with pytest.raises(IntegrityError):
        package.load(tmp_path / "pkg", allow_pickle=True)


def test_python_flavor_round_trips_with_its_source(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": np.linspace(-2, 2, 50)})
    original = ThresholdModel(column="x", threshold=0.3, scale=0.5)
    manifest = package.save(original, tmp_path / "pkg", name="t", X_sample=frame)
    assert manifest.flavor.name == "python" and "code/testing.py" in manifest.files
    with pytest.raises(UntrustedCode, match="runs its own Python code"):
        package.load(tmp_path / "pkg")  # its code is imported only after a decision
    model = package.load(tmp_path / "pkg", allow_code=True)
    np.testing.assert_array_equal(model.predict(frame), original.predict(frame))
    np.testing.assert_allclose(model.predict_proba(frame), original.predict_proba(frame))
    assert model.classes == (0, 1)


def test_python_flavor_refuses_classes_in_main_and_unsaveable_state(tmp_path: Path) -> None:
    class Local:
        def predict(self, data: object) -> list[int]:
            return [0]

    Local.__module__ = "__main__"
    with pytest.raises(PackageError, match="define it in a module file"):
        package.save(Local(), tmp_path / "a", X_sample=pd.DataFrame({"x": [1.0]}))
    model = ThresholdModel()
    model.threshold = object()  # type: ignore[assignment]
    with pytest.raises(PackageError, match="implement shipyard_save"):
        package.save(model, tmp_path / "b", X_sample=pd.DataFrame({"x": [1.0]}), flavor="python")
    assert not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir()] == []  # no temporary leftovers


def test_save_needs_a_sample_or_signature_and_a_new_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="pass X_sample"):
        package.save(ThresholdModel(), tmp_path / "pkg")
    (tmp_path / "taken").mkdir()
    with pytest.raises(InvalidArgument, match="already exists"):
        package.save(ThresholdModel(), tmp_path / "taken", X_sample=pd.DataFrame({"x": [1.0]}))
    with pytest.raises(InvalidArgument, match="unknown flavor 'nope'"):
        package.save(
            ThresholdModel(), tmp_path / "p2", X_sample=pd.DataFrame({"x": [1.0]}), flavor="nope"
        )


def test_unknown_model_type_names_the_flavors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no flavor knows how to save a builtins.int"):
        package.save(3, tmp_path / "p", X_sample=pd.DataFrame({"x": [1.0]}))


def test_explicit_signature(tmp_path: Path) -> None:
    sig = {"kind": "columns", "columns": [{"name": "x", "dtype": "float64", "nullable": False}]}
    package.save(ThresholdModel(), tmp_path / "p", signature=sig)
    model = package.load(tmp_path / "p", allow_code=True)
    assert model.predict([{"x": 3}]).tolist() == [1]
    assert model.input_example() is None and model.reference_profiles == {}
