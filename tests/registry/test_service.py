"""RegistryService over real stores and a real local blob store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shipyard import package
from shipyard.core.errors import IntegrityError, InvalidArgument, NotFound
from shipyard.registry.service import RegistryService


def test_log_model_then_load_by_every_reference_form(
    registry: RegistryService, cancer: tuple[pd.DataFrame, pd.Series], cancer_model: object
) -> None:
    X, y = cancer
    v1 = registry.log_model(
        cancer_model, name="cancer", X_sample=X, y_sample=y, metrics={"acc": 0.97}
    )
    v2 = registry.log_model(cancer_model, name="cancer", X_sample=X.head(50))
    assert (v1.name, v1.version, v2.version) == ("cancer", 1, 2)
    assert v1.metrics == {"acc": 0.97} and v1.flavor == "sklearn"
    registry.set_alias("cancer", "champion", 1)
    expected = cancer_model.predict(X.head(20))  # type: ignore[attr-defined]
    for ref in ["cancer/1", "models:/cancer/1", "cancer@champion", "models:/cancer@champion"]:
        model = registry.load(ref)
        assert model.digest == v1.digest
        np.testing.assert_array_equal(model.predict(X.head(20)), expected)
    assert registry.resolve("cancer@latest").version == 2
    assert registry.resolve("models:/cancer@latest").digest == v2.digest


def test_same_files_are_stored_once(
    registry: RegistryService,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
) -> None:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="cancer", X_sample=X)
    a = registry.register(tmp_path / "pkg")
    b = registry.register(tmp_path / "pkg", name="cancer-copy")
    assert a.digest == b.digest and (a.name, b.name) == ("cancer", "cancer-copy")
    blobs = [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()]
    assert len(blobs) == 4  # manifest + model + example + profile, shared by both versions


def test_corrupted_blob_is_detected_and_nothing_loads(
    registry: RegistryService,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
) -> None:
    X, _ = cancer
    v = registry.log_model(cancer_model, name="cancer", X_sample=X)
    manifest = registry.manifest(v)
    sha = manifest.files["model.skops"][7:]
    blob = tmp_path / "artifacts" / "sha256" / sha[:2] / sha
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="corrupted"):
        registry.load("cancer/1")
    assert not list((tmp_path / "cache" / "packages").glob("sha256-*"))


def test_a_corrupt_cache_entry_is_dropped_and_fetched_again(
    registry: RegistryService,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
) -> None:
    X, _ = cancer
    registry.log_model(cancer_model, name="cancer", X_sample=X)
    expected = registry.load("cancer/1").predict(X.head(5))
    cached = next((tmp_path / "cache" / "packages").glob("sha256-*"))
    intact = (cached / "model.skops").read_bytes()
    (cached / "model.skops").write_bytes(intact[: len(intact) // 2])  # a torn copy
    (cached / "stray.txt").write_text("not in the manifest")
    np.testing.assert_array_equal(registry.load("cancer/1").predict(X.head(5)), expected)
    assert (cached / "model.skops").read_bytes() == intact  # fetched again from the store
    assert not (cached / "stray.txt").exists()
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]  # nothing left behind


def test_a_corrupt_cache_over_a_corrupt_store_loads_nothing(
    registry: RegistryService,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
) -> None:
    X, _ = cancer
    v = registry.log_model(cancer_model, name="cancer", X_sample=X)
    registry.load("cancer/1")
    cached = next((tmp_path / "cache" / "packages").glob("sha256-*"))
    (cached / "input_example.json").write_text("[]")
    sha = registry.manifest(v).files["input_example.json"][7:]
    (tmp_path / "artifacts" / "sha256" / sha[:2] / sha).write_text("[]")
    with pytest.raises(IntegrityError, match="corrupted"):
        registry.load("cancer/1")
    assert not list((tmp_path / "cache" / "packages").glob("sha256-*"))


def test_register_refuses_a_modified_package(
    registry: RegistryService,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
) -> None:
    X, _ = cancer
    package.save(cancer_model, tmp_path / "pkg", name="cancer", X_sample=X)
    (tmp_path / "pkg" / "extra.py").write_text("print('hi')")
    with pytest.raises(IntegrityError, match="does not list: extra.py"):
        registry.register(tmp_path / "pkg")
    with pytest.raises(NotFound):
        registry.get_model("cancer")


def test_bad_names_and_refs(
    registry: RegistryService,
    tmp_path: Path,
    cancer: tuple[pd.DataFrame, pd.Series],
    cancer_model: object,
) -> None:
    X, _ = cancer
    with pytest.raises(InvalidArgument, match="invalid model name 'bad name'"):
        registry.log_model(cancer_model, name="bad name", X_sample=X)
    with pytest.raises(InvalidArgument, match="invalid model reference 'cancer'"):
        registry.resolve("cancer")
    with pytest.raises(NotFound, match="model 'cancer' does not exist"):
        registry.resolve("cancer@champion")
    registry.log_model(cancer_model, name="cancer", X_sample=X)
    with pytest.raises(InvalidArgument, match="'latest' is reserved"):
        registry.set_alias("cancer", "latest", 1)
    with pytest.raises(NotFound, match="never had one"):
        registry.alias_history("cancer", "champion")
