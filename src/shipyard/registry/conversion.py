"""Converting a registered version into another format, registered as a new version.

The converted package is written and loaded first, then compared with its parent on the parent's
reference rows (the background kept in its profile, else its input example). Only a conversion
whose labels are equal and whose probabilities are within the tolerance is registered, with
lineage to its parent; otherwise nothing is registered and the largest difference is reported.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from shipyard.core.errors import InvalidArgument, PackageError
from shipyard.package import bundle
from shipyard.package.converters import onnx as onnx_converter
from shipyard.registry.entities import ModelVersion
from shipyard.registry.service import RegistryService

FORMATS = ("onnx",)


@dataclass(frozen=True)
class ConversionResult:
    version: ModelVersion
    parent: str
    rows: int
    max_difference: float


def convert_version(
    registry: RegistryService, ref: str, *, to: str, actor: str | None = None
) -> ConversionResult:
    if to not in FORMATS:
        raise InvalidArgument(f"--to must be one of {', '.join(FORMATS)}, got {to!r}")
    parent_version = registry.resolve(ref)
    parent = registry.load_version(parent_version)
    sample = parent.background
    if sample is None or sample.empty:
        raise InvalidArgument(
            f"{parent_version.ref} has no reference rows to check a conversion against"
        )
    proto, options = onnx_converter.convert(parent, sample)
    manifest = parent.manifest
    lineage = manifest.lineage.model_copy(update={"parent": parent_version.ref})
    with tempfile.TemporaryDirectory(prefix="shipyard-convert-") as tmp:
        path = Path(tmp) / "package"
        bundle.save(
            proto,
            path,
            name=parent_version.name,
            X_sample=sample,
            flavor="onnx",
            flavor_options=options,
            metrics=manifest.metrics,
            params=manifest.params,
            tags={**manifest.tags, "converted_from": parent_version.ref},
            description=f"{to} conversion of {parent_version.ref}",
            lineage=lineage,
        )
        converted = bundle.load(path)
        comparison = onnx_converter.compare(parent, converted, sample)
        if not comparison.matches:
            what = "labels differ" if not comparison.labels_equal else "probabilities differ"
            raise PackageError(
                f"conversion of {parent_version.ref} to {to} refused: {what} on "
                f"{comparison.rows} reference rows (largest probability difference "
                f"{comparison.max_difference:.3g}, tolerance "
                f"{onnx_converter.PROBABILITY_TOLERANCE:g})"
            )
        version = registry.register(path, name=parent_version.name, actor=actor)
    return ConversionResult(version, parent_version.ref, comparison.rows, comparison.max_difference)
