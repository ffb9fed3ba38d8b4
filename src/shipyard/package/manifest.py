"""The package manifest, ``shipyard.yaml``: everything needed to trust, load and monitor a model.

The manifest lists the SHA-256 of every other file of the package; the package digest is the SHA-256 of
the manifest's canonical JSON form without the ``digest`` field, so it covers every file and every
piece of metadata at once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shipyard.core.errors import PackageError

MANIFEST_FILE = "shipyard.yaml"
# libyaml's safe loader parses a manifest ~6x faster than the pure-Python one, when available
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
FORMAT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FlavorEntry(_Frozen):
    name: str
    framework: str
    framework_version: str
    serialization: str
    files: tuple[str, ...]
    options: dict[str, Any] = Field(default_factory=dict)


class Requirements(_Frozen):
    python: str
    packages: dict[str, str] = Field(default_factory=dict)
    """Distribution name -> exact installed version at packaging time."""


class Lineage(_Frozen):
    git_commit: str | None = None
    git_dirty: bool | None = None
    git_repository: str | None = None
    data_digest: str | None = None
    """SHA-256 of the sample the signature and profile were computed from."""
    dataset_name: str | None = None
    dataset_uri: str | None = None
    parent: str | None = None
    """Reference of the version this one was derived from (retraining)."""
    extra: dict[str, Any] = Field(default_factory=dict)


class Manifest(_Frozen):
    format_version: int = FORMAT_VERSION
    name: str
    description: str = ""
    created_at: str
    shipyard_version: str
    flavor: FlavorEntry
    signature: dict[str, Any]
    requirements: Requirements
    lineage: Lineage = Field(default_factory=Lineage)
    metrics: dict[str, float] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    predict_is_argmax: bool = False
    """True when ``predict`` equals the class of highest probability on the sample, so a server can
    compute probabilities once and derive predictions from them."""
    input_example: str | None = None
    profile: str | None = None
    """File holding the reference profile: ``{"inputs": ..., "outputs": ...}``."""
    files: dict[str, str] = Field(default_factory=dict)
    """Relative path -> ``sha256:<hex>`` of every file of the package except this manifest."""
    digest: str | None = None

    def compute_digest(self) -> str:
        body = self.model_dump(mode="json", exclude={"digest"})
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_yaml(cls, text: str, *, source: str = MANIFEST_FILE) -> Manifest:
        try:
            data = yaml.load(text, Loader=_SafeLoader)
        except yaml.YAMLError as exc:
            raise PackageError(f"{source} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise PackageError(f"{source} must be a mapping at the top level")
        if data.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise PackageError(
                f"{source} has format_version {data['format_version']}; this Shipyard reads up to "
                f"{FORMAT_VERSION}: upgrade shipyard"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PackageError(f"{source}: field {where!r}: {first['msg']}") from exc


def sha256_file(path: Any, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return "sha256:" + h.hexdigest()
