"""Model packages: self-describing, content-addressed folders (``shipyard.yaml`` + artifacts)."""

from shipyard.package.bundle import load, read_manifest, save, verify
from shipyard.package.manifest import Manifest
from shipyard.package.model import Model
from shipyard.package.signature import ColumnSpec, OutputSpec, Signature, TensorSpec

__all__ = [
    "ColumnSpec",
    "Manifest",
    "Model",
    "OutputSpec",
    "Signature",
    "TensorSpec",
    "load",
    "read_manifest",
    "save",
    "verify",
]
