"""Writing, verifying and loading package directories.

A package is written into a temporary sibling directory and renamed into place when complete, so a
crash never leaves a half-written package under the final name. Loading verifies every digest first:
one flipped byte anywhere and nothing is loaded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from shipyard._version import __version__
from shipyard.core.errors import (
    IntegrityError,
    InvalidArgument,
    NotFound,
    PackageError,
    UntrustedCode,
)
from shipyard.package.environment import capture_lineage, capture_requirements
from shipyard.package.explanation import BACKGROUND_ROWS, global_importance
from shipyard.package.flavors.base import SavedModel
from shipyard.package.flavors.hooks import flavor_for, flavor_named
from shipyard.package.manifest import MANIFEST_FILE, FlavorEntry, Lineage, Manifest, sha256_file
from shipyard.package.model import Model
from shipyard.package.signature import Signature, infer_input_signature, infer_output_specs
from shipyard.stats.cbpe import Calibration
from shipyard.stats.profile import DEFAULT_BINS, build_profile

EXAMPLE_FILE = "input_example.json"
PROFILE_FILE = "profile.json"
EXAMPLE_ROWS = 5
IMPORTANCE_ROWS = 500
"""Rows of the sample over which global importance is averaged at packaging (bounds its cost)."""


def save(
    model: object,
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    X_sample: object | None = None,
    y_sample: object | None = None,
    signature: Signature | Mapping[str, Any] | None = None,
    flavor: str | None = None,
    flavor_options: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, str] | None = None,
    description: str = "",
    dataset_name: str | None = None,
    dataset_uri: str | None = None,
    lineage: Lineage | None = None,
    profile_bins: int = DEFAULT_BINS,
) -> Manifest:
    """Write ``model`` as a package directory at ``path`` (which must not exist) and return its manifest.

    The signature is inferred from ``X_sample`` unless given; the outputs are inferred from the
    predictions of the *reloaded* model on the sample, which must equal the original model's.
    """
    target = Path(path)
    if target.exists():
        raise InvalidArgument(f"{target} already exists; a package is written to a new directory")
    if X_sample is None and signature is None:
        raise InvalidArgument("pass X_sample (a few rows of real input) or an explicit signature")
    impl = flavor_named(flavor) if flavor else flavor_for(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        saved = impl.save(model, work, flavor_options or {})
        sig = _input_signature(signature, X_sample)
        predictor = impl.load(work, saved, allow_pickle=True)  # we just wrote it ourselves
        outputs = sig.outputs
        profiles: dict[str, Any] = {}
        example = None
        argmax = False
        if X_sample is not None:
            validated = sig.validate(X_sample)
            preds = predictor.predict(validated)
            _check_round_trip(model, X_sample, validated, preds)
            proba = predictor.predict_proba(validated) if predictor.classes is not None else None
            # only frameworks whose predict is a function of predict_proba; user code may differ
            if getattr(impl, "predict_derives_from_proba", False):
                argmax = _predict_is_argmax(preds, proba, predictor.classes)
            if not outputs:
                outputs = infer_output_specs(preds, classes=predictor.classes, probabilities=proba)
            sig = Signature(kind=sig.kind, columns=sig.columns, tensor=sig.tensor, outputs=outputs)
            profiles = _profiles(validated, preds, proba, predictor.classes, y_sample, profile_bins)
            if isinstance(validated, pd.DataFrame) and profiles:
                profiles["explain"] = _explain_reference(impl.name, predictor, validated)
            example = _example(validated)
        if example is not None:
            (work / EXAMPLE_FILE).write_text(json.dumps(example, allow_nan=False))
        if profiles:
            (work / PROFILE_FILE).write_text(json.dumps(profiles, allow_nan=False))
        manifest = Manifest(
            name=name or type(model).__name__.lower(),
            description=description,
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            shipyard_version=__version__,
            flavor=FlavorEntry(
                name=impl.name,
                framework=saved.framework,
                framework_version=saved.framework_version,
                serialization=saved.serialization,
                files=saved.files,
                options=dict(saved.options),
            ),
            signature=sig.to_dict(),
            requirements=capture_requirements([saved.framework, *saved.requirements]),
            lineage=lineage
            or capture_lineage(X_sample, dataset_name=dataset_name, dataset_uri=dataset_uri),
            metrics={k: float(v) for k, v in (metrics or {}).items()},
            predict_is_argmax=argmax,
            params=_plain_params(params or {}),
            tags={str(k): str(v) for k, v in (tags or {}).items()},
            input_example=EXAMPLE_FILE if example is not None else None,
            profile=PROFILE_FILE if profiles else None,
            files=_hash_tree(work),
        )
        manifest = manifest.model_copy(update={"digest": manifest.compute_digest()})
        (work / MANIFEST_FILE).write_text(manifest.to_yaml())
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return manifest


def _input_signature(signature: Signature | Mapping[str, Any] | None, sample: object) -> Signature:
    if isinstance(signature, Signature):
        return signature
    if signature is not None:
        return Signature.from_dict(signature)
    return infer_input_signature(sample)


def _check_round_trip(
    model: object, raw: object, validated: object, reloaded: npt.NDArray[Any]
) -> None:
    predict = getattr(model, "predict", None)
    if not callable(predict):
        return
    try:
        original = np.asarray(predict(validated))
    except (
        Exception
    ):  # the original may want its raw input form; the reloaded output is what counts
        return
    same = (
        np.allclose(original, reloaded, equal_nan=True)
        if original.dtype.kind in "fc" and reloaded.dtype.kind in "fc"
        else np.array_equal(original, reloaded)
    )
    if not same:
        raise PackageError(
            "the saved model predicts differently from the original on X_sample; "
            "the flavor cannot round-trip this model"
        )


def _predict_is_argmax(
    preds: npt.NDArray[Any], proba: npt.NDArray[Any] | None, classes: tuple[Any, ...] | None
) -> bool:
    if proba is None or classes is None or proba.ndim != 2 or proba.shape[1] != len(classes):
        return False
    derived = np.asarray(classes, dtype=object)[proba.argmax(axis=1)]
    return bool(
        np.array_equal(derived.astype(preds.dtype) if preds.dtype != object else derived, preds)
    )


def _profiles(
    validated: pd.DataFrame | npt.NDArray[Any],
    preds: npt.NDArray[Any],
    proba: npt.NDArray[Any] | None,
    classes: tuple[Any, ...] | None,
    y_sample: object | None,
    bins: int,
) -> dict[str, Any]:
    if isinstance(validated, pd.DataFrame):
        inputs = validated
    elif validated.ndim == 2:
        inputs = pd.DataFrame(validated, columns=[f"f{i}" for i in range(validated.shape[1])])
    else:
        inputs = None
    outputs: dict[str, Any] = {}
    if preds.ndim == 1:
        outputs["prediction"] = preds
    if proba is not None and classes is not None and proba.ndim == 2:
        for i, cls in enumerate(classes):
            outputs[f"proba_{cls}"] = proba[:, i]
    if y_sample is not None:
        y = np.asarray(y_sample)
        if y.ndim == 1 and len(y) == len(preds):
            outputs["label"] = y
    result: dict[str, Any] = {}
    if inputs is not None:
        result["inputs"] = build_profile(inputs, bins=bins).to_dict()
    if outputs:
        result["outputs"] = build_profile(pd.DataFrame(outputs), bins=bins).to_dict()
    if proba is not None and classes is not None and "label" in outputs:
        # for label-free performance estimation (CBPE); meaningful when the sample is held out
        labels = outputs["label"]
        if set(np.unique(labels).tolist()) <= set(classes):
            result["calibration"] = Calibration.fit(proba, labels, classes).to_dict()
    return result


def _explain_reference(flavor: str, predictor: Any, validated: pd.DataFrame) -> dict[str, Any]:
    """A background for model-agnostic explanations, and global importance when it is exact."""
    background = validated.sample(min(len(validated), BACKGROUND_ROWS), random_state=0)
    sample = validated.sample(min(len(validated), IMPORTANCE_ROWS), random_state=1)
    out: dict[str, Any] = {
        "background": json.loads(background.to_json(orient="records", date_format="iso"))
    }
    importance = global_importance(flavor, predictor, sample, background)
    if importance is not None:
        out["importance"] = importance
    return out


def _example(validated: pd.DataFrame | npt.NDArray[Any]) -> Any:
    if isinstance(validated, pd.DataFrame):
        head = validated.head(EXAMPLE_ROWS)
        return json.loads(head.to_json(orient="records", date_format="iso"))
    return np.asarray(validated[:EXAMPLE_ROWS]).tolist()


def _plain_params(params: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return dict(json.loads(json.dumps(dict(params), default=str)))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"params must be JSON-like values: {exc}") from exc


def _hash_tree(root: Path) -> dict[str, str]:
    files: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != MANIFEST_FILE:
            files[p.relative_to(root).as_posix()] = sha256_file(p)
    return files


# -- reading -----------------------------------------------------------------------------------------


def read_manifest(path: str | os.PathLike[str]) -> Manifest:
    directory = Path(path)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise NotFound(f"{directory} is not a Shipyard package (no {MANIFEST_FILE})")
    return Manifest.from_yaml(manifest_path.read_text(), source=str(manifest_path))


def safe_relative(path: str) -> PurePosixPath:
    """A manifest path, refused if it could point outside the package."""
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or not p.parts or "\\" in path:
        raise IntegrityError(f"package lists an unsafe path {path!r}")
    return p


def verify(path: str | os.PathLike[str], *, expected_digest: str | None = None) -> Manifest:
    """Check the manifest digest and every file's SHA-256; return the manifest if all match."""
    directory = Path(path)
    manifest = read_manifest(directory)
    digest = manifest.compute_digest()
    if manifest.digest != digest:
        raise IntegrityError(
            f"{directory}/{MANIFEST_FILE} was modified: its digest is {digest}, "
            f"it records {manifest.digest}"
        )
    if expected_digest is not None and digest != expected_digest:
        raise IntegrityError(
            f"package digest {digest} does not match the expected {expected_digest}"
        )
    for rel, want in manifest.files.items():
        file = directory / safe_relative(rel)
        if file.is_symlink() or not file.is_file():
            raise IntegrityError(f"package file {rel} is missing or not a regular file")
        got = sha256_file(file)
        if got != want:
            raise IntegrityError(
                f"package file {rel} is corrupted or was modified: SHA-256 {got}, manifest says {want}"
            )
    listed = set(manifest.files) | {MANIFEST_FILE}
    for p in directory.rglob("*"):
        rel = p.relative_to(directory).as_posix()
        if (p.is_file() or p.is_symlink()) and rel not in listed:
            raise IntegrityError(f"package holds a file the manifest does not list: {rel}")
    return manifest


def load(
    path: str | os.PathLike[str],
    *,
    allow_pickle: bool = False,
    allow_code: bool = False,
    expected_digest: str | None = None,
) -> Model:
    """Verify and load a package directory (a package with its own code needs ``allow_code``)."""
    directory = Path(path)
    return load_verified(
        directory,
        verify(directory, expected_digest=expected_digest),
        allow_pickle=allow_pickle,
        allow_code=allow_code,
    )


def runs_code(manifest: Manifest) -> bool:
    """Whether loading the package imports Python code shipped inside it (the python flavor)."""
    return bool(getattr(flavor_named(manifest.flavor.name), "runs_code", False))


def load_verified(
    directory: Path, manifest: Manifest, *, allow_pickle: bool = False, allow_code: bool = False
) -> Model:
    """Load a package whose manifest ``verify`` has just returned."""
    entry = manifest.flavor
    impl = flavor_named(entry.name)
    if getattr(impl, "runs_code", False) and not allow_code:
        raise UntrustedCode(
            f"package {manifest.name!r} ({entry.name} flavor) runs its own Python code when "
            "loaded; load it only if you trust it: allow_code=True, --allow-code or "
            "SHIPYARD_ALLOW_CODE=1, or record the decision with: shipyard trust MODEL VERSION"
        )
    saved = SavedModel(
        files=entry.files,
        framework=entry.framework,
        framework_version=entry.framework_version,
        serialization=entry.serialization,
        options=entry.options,
    )
    return Model(manifest, impl.load(directory, saved, allow_pickle=allow_pickle), directory)
