"""``RegistryService``: every registry operation, written once, over a store and a blob store.

The SDK, CLI and HTTP adapters call these methods and only translate inputs and outputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.core.errors import Conflict, InvalidArgument, NotFound, PackageError
from shipyard.registry.blobs import BlobStore
from shipyard.registry.changes import ChangeFeed
from shipyard.registry.entities import (
    Alias,
    AliasEvent,
    AuditEvent,
    ChainReport,
    ModelVersion,
    NewVersion,
    RegisteredModel,
)
from shipyard.registry.refs import LATEST, ModelRef, check_alias, check_name, parse_ref
from shipyard.registry.store import RegistryStore

if TYPE_CHECKING:  # the manifest reads YAML: imported by the methods that read packages
    from shipyard.package.labels import LabelRule
    from shipyard.package.manifest import Manifest
    from shipyard.package.model import Model

log = logging.getLogger("shipyard.registry")


def _discard(folder: Path) -> None:
    """Move ``folder`` out of the way in one rename (a reader sees it whole or not at all), then
    delete it."""
    trash = Path(tempfile.mkdtemp(prefix=".corrupt-", dir=folder.parent))
    with contextlib.suppress(FileNotFoundError):  # another process discarded it first
        os.rename(folder, trash / folder.name)
    shutil.rmtree(trash, ignore_errors=True)


TRUST_ACTION = "version.trust"
"""Audit action recording that a version's own code may run when loaded."""


class RegistryService:
    def __init__(
        self,
        store: RegistryStore,
        blobs: BlobStore,
        *,
        cache_dir: Path,
        actor: str,
        allow_pickle: bool = False,
        allow_code: bool = False,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self.cache_dir = cache_dir
        self.actor = actor
        self.allow_pickle = allow_pickle
        self.allow_code = allow_code
        self.trust_guard: Callable[[str | None], None] | None = None
        """Checks who may trust code (admin only, once roles exist); None: anyone with access."""
        self._label_rules: dict[tuple[str, int], LabelRule] = {}

    def _who(self, actor: str | None) -> str:
        return actor or self.actor

    # -- registering --------------------------------------------------------------------------------

    def register(
        self,
        path: str | os.PathLike[str],
        *,
        name: str | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Verify a package folder, store its files as blobs and create the next version."""
        from shipyard.package import bundle  # numpy and pandas: only when packages are read
        from shipyard.package.manifest import MANIFEST_FILE

        directory = Path(path)
        manifest = bundle.verify(directory)
        model_name = check_name(name or manifest.name)
        size = 0
        for rel in manifest.files:
            file = directory / bundle.safe_relative(rel)
            size += file.stat().st_size
            self.blobs.put_file(file)
        manifest_blob = self.blobs.put_file(directory / MANIFEST_FILE)
        assert manifest.digest is not None
        new = NewVersion(
            digest=manifest.digest,
            manifest_blob=manifest_blob,
            flavor=manifest.flavor.name,
            size_bytes=size,
            description=manifest.description if description is None else description,
            metrics=manifest.metrics,
            params=manifest.params,
            tags={**manifest.tags, **(tags or {})},
        )
        return self.store.create_version(model_name, new, actor=self._who(actor))

    def log_model(
        self,
        model: object,
        *,
        name: str,
        actor: str | None = None,
        **save_options: Any,
    ) -> ModelVersion:
        """Package ``model`` (see ``shipyard.package.save``) and register it as a new version."""
        from shipyard.package import bundle  # numpy and pandas: only when packages are read

        check_name(name)
        with tempfile.TemporaryDirectory(prefix="shipyard-package-") as tmp:
            target = Path(tmp) / "package"
            bundle.save(model, target, name=name, **save_options)
            return self.register(target, name=name, actor=actor)

    def import_mlflow(
        self,
        source: str,
        *,
        name: str,
        allow_pickle: bool = False,
        tracking_uri: str | None = None,
        actor: str | None = None,
    ) -> ModelVersion:
        """Register an MLflow model (folder, ``runs:/`` or ``models:/`` URI) as a new version."""
        from shipyard.package.environment import capture_lineage
        from shipyard.package.importers import mlflow as importer

        check_name(name)
        with tempfile.TemporaryDirectory(prefix="shipyard-mlflow-") as tmp:
            imported = importer.read_source(
                source, tracking_uri=tracking_uri, allow_pickle=allow_pickle, workdir=Path(tmp)
            )
            if imported.sample is None:
                raise InvalidArgument(
                    f"{source} has no input example; Shipyard needs one for the signature and "
                    "the reference profile"
                )
            lineage = capture_lineage(imported.sample, dataset_uri=source).model_copy(
                update={
                    "git_commit": None,
                    "git_dirty": None,
                    "git_repository": None,
                    "extra": {k: v for k, v in imported.lineage.items() if v},
                }
            )
            return self.log_model(
                imported.model,
                name=name,
                actor=actor,
                X_sample=imported.sample,
                flavor=imported.flavor,
                flavor_options=imported.flavor_options,
                params=imported.params,
                metrics=imported.metrics,
                tags={"imported_from": "mlflow"},
                lineage=lineage,
                description=f"imported from MLflow ({imported.source_flavor}) {source}",
            )

    # -- resolving and loading ----------------------------------------------------------------------

    def resolve(self, ref: str | ModelRef) -> ModelVersion:
        """The version a reference points to now (``name/3``, ``name@alias``, ``name@latest``)."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        if parsed.version is not None:
            return self.store.get_version(parsed.name, parsed.version)
        assert parsed.alias is not None
        if parsed.alias == LATEST:
            return self.store.latest_version(parsed.name)
        alias = self.store.get_alias(parsed.name, parsed.alias)
        return self.store.get_version(parsed.name, alias.version)

    def manifest(self, version: ModelVersion) -> Manifest:
        from shipyard.package.manifest import MANIFEST_FILE, Manifest

        text = self.blobs.get_bytes(version.manifest_blob).decode()
        return Manifest.from_yaml(text, source=f"{version.ref}/{MANIFEST_FILE}")

    def label_rule(self, name: str, version: int) -> LabelRule:
        """What a label of this version's target may be (versions are immutable: cached)."""
        from shipyard.package.labels import LabelRule
        from shipyard.package.signature import Signature

        key = (name, version)
        rule = self._label_rules.get(key)
        if rule is None:
            manifest = self.manifest(self.get_version(name, version))
            rule = LabelRule.from_signature(Signature.from_dict(manifest.signature))
            self._label_rules[key] = rule
        return rule

    def package_file(self, version: ModelVersion, path: str) -> bytes | None:
        """One file of a version's package, read from the blob store (digest-checked), or None."""
        sha = self.manifest(version).files.get(path)
        if sha is None:
            return None
        return self.blobs.get_bytes(f"sha256/{sha[7:9]}/{sha[7:]}")

    def fetch(self, version: ModelVersion) -> tuple[Path, Manifest]:
        """A verified local copy of the version's package (cached by digest), and its manifest."""
        from shipyard.package import bundle  # numpy and pandas: only when packages are read
        from shipyard.package.manifest import MANIFEST_FILE

        target = self.cache_dir / "packages" / version.digest.replace(":", "-")
        if target.exists():
            try:
                return target, bundle.verify(target, expected_digest=version.digest)
            except PackageError as exc:  # the cache is a copy: drop it, the store has the truth
                log.warning("cached package %s is corrupt (%s); fetching it again", target, exc)
                _discard(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=target.parent))
        try:
            self.blobs.get_file(version.manifest_blob, work / MANIFEST_FILE)
            manifest = bundle.read_manifest(work)
            for rel, sha in manifest.files.items():
                dest = work / bundle.safe_relative(rel)
                dest.parent.mkdir(parents=True, exist_ok=True)
                self.blobs.get_file(f"sha256/{sha[7:9]}/{sha[7:]}", dest)
            verified = bundle.verify(work, expected_digest=version.digest)
            try:
                os.rename(work, target)
            except OSError:  # another process fetched it first
                shutil.rmtree(work, ignore_errors=True)
                return self.fetch(version)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return target, verified

    def load(
        self,
        ref: str | ModelRef,
        *,
        allow_pickle: bool | None = None,
        allow_code: bool | None = None,
    ) -> Model:
        version = self.resolve(ref)
        return self.load_version(version, allow_pickle=allow_pickle, allow_code=allow_code)

    def load_version(
        self,
        version: ModelVersion,
        *,
        allow_pickle: bool | None = None,
        allow_code: bool | None = None,
    ) -> Model:
        from shipyard.package import bundle  # numpy and pandas: only when packages are read

        path, manifest = self.fetch(version)
        pickle_ok = self.allow_pickle if allow_pickle is None else allow_pickle
        code_ok = self.code_allowed(version, manifest, allow_code)
        return bundle.load_verified(path, manifest, allow_pickle=pickle_ok, allow_code=code_ok)

    # -- trusting code --------------------------------------------------------------------------------

    def code_allowed(
        self,
        version: ModelVersion,
        manifest: Manifest | None = None,
        allow_code: bool | None = None,
    ) -> bool:
        """Whether loading ``version`` may run its code: no code, an explicit opt-in, or trust."""
        from shipyard.package import bundle

        manifest = manifest or self.manifest(version)
        if not bundle.runs_code(manifest):
            return True
        if allow_code if allow_code is not None else self.allow_code:
            return True
        return self.is_trusted(version)

    def is_trusted(self, version: ModelVersion) -> bool:
        """Whether ``shipyard trust`` was recorded for this version's exact package digest."""
        events = self.store.list_audit(action=TRUST_ACTION, target=version.ref, limit=100)
        return any(e.details.get("digest") == version.digest for e in events)

    def trust(self, name: str, version: int, *, actor: str | None = None) -> ModelVersion:
        """Record, in the audit log, the decision to let this version's code run when loaded."""
        if self.trust_guard is not None:  # the role check (admin) plugs in here
            self.trust_guard(actor)
        found = self.get_version(name, version)
        manifest = self.manifest(found)
        self.record(
            TRUST_ACTION,
            found.ref,
            {"digest": found.digest, "flavor": manifest.flavor.name},
            actor=actor,
        )
        return found

    # -- models and versions ------------------------------------------------------------------------

    def get_model(self, name: str) -> RegisteredModel:
        return self.store.get_model(name)

    def list_models(
        self, *, prefix: str | None = None, tags: Mapping[str, str] | None = None, limit: int = 1000
    ) -> list[RegisteredModel]:
        return self.store.list_models(prefix=prefix, tags=tags, limit=limit)

    def delete_model(self, name: str, *, actor: str | None = None) -> None:
        self.store.delete_model(name, actor=self._who(actor))

    def describe(
        self, name: str, description: str, *, version: int | None = None, actor: str | None = None
    ) -> None:
        if version is None:
            self.store.set_model_description(name, description, actor=self._who(actor))
        else:
            self.store.set_version_description(name, version, description, actor=self._who(actor))

    def get_version(self, name: str, version: int) -> ModelVersion:
        return self.store.get_version(name, version)

    def list_versions(
        self,
        name: str | None = None,
        *,
        prefix: str | None = None,
        tags: Mapping[str, str] | None = None,
        limit: int = 1000,
    ) -> list[ModelVersion]:
        return self.store.list_versions(name=name, prefix=prefix, tags=tags, limit=limit)

    def delete_version(self, name: str, version: int, *, actor: str | None = None) -> None:
        self.store.delete_version(name, version, actor=self._who(actor))

    # -- tags ---------------------------------------------------------------------------------------

    def set_tag(
        self,
        name: str,
        key: str,
        value: str,
        *,
        version: int | None = None,
        actor: str | None = None,
    ) -> None:
        self.store.set_tag(name, version, key, value, actor=self._who(actor))

    def delete_tag(
        self, name: str, key: str, *, version: int | None = None, actor: str | None = None
    ) -> None:
        self.store.delete_tag(name, version, key, actor=self._who(actor))

    # -- aliases ------------------------------------------------------------------------------------

    def set_alias(
        self,
        name: str,
        alias: str,
        version: int,
        *,
        reason: str = "",
        actor: str | None = None,
    ) -> AliasEvent:
        """Point ``name@alias`` at ``version``; a protected alias only at an approved version (the
        store checks it in the move's transaction, whoever moves it: a person, a rollout, a
        rollback)."""
        check_alias(alias)
        if version < 1:
            raise InvalidArgument(f"version must be >= 1, got {version}")
        return self.store.set_alias(name, alias, version, actor=self._who(actor), reason=reason)

    def rollback_alias(self, name: str, alias: str, *, actor: str | None = None) -> AliasEvent:
        """Point ``name@alias`` back at the version it pointed to before its last move."""
        last = self.alias_history(name, alias)[-1]
        if last.from_version is None:
            raise Conflict(f"{name}@{alias} has no earlier target to go back to")
        return self.set_alias(
            name, alias, last.from_version, actor=actor, reason=f"rollback from {last.to_version}"
        )

    def delete_alias(
        self, name: str, alias: str, *, reason: str = "", actor: str | None = None
    ) -> AliasEvent:
        check_alias(alias)
        return self.store.delete_alias(name, alias, actor=self._who(actor), reason=reason)

    def get_alias(self, name: str, alias: str) -> Alias:
        return self.store.get_alias(name, alias)

    def list_aliases(self, name: str) -> list[Alias]:
        return self.store.list_aliases(name)

    def alias_history(self, name: str, alias: str) -> list[AliasEvent]:
        history = self.store.alias_history(name, alias)
        if not history:
            raise NotFound(f"model {name!r} has no alias @{alias} and never had one")
        return history

    def alias_at(self, name: str, alias: str, at: dt.datetime) -> int | None:
        """The version ``name@alias`` pointed to at time ``at`` (None: it pointed nowhere)."""
        return self.store.alias_at(name, alias, at)

    # -- audit --------------------------------------------------------------------------------------

    def audit(
        self,
        *,
        since: dt.datetime | None = None,
        action: str | None = None,
        target: str | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        return self.store.list_audit(since=since, action=action, target=target, limit=limit)

    def verify_audit(self, *, tail: int | None = None) -> ChainReport:
        """The first broken link of the audit chain, if any (``shipyard audit verify``)."""
        return self.store.verify_audit(tail=tail)

    def record(
        self, action: str, target: str, details: Mapping[str, Any], *, actor: str | None = None
    ) -> None:
        """An audit event for something decided outside the registry (a failed job, a verdict)."""
        self.store.add_audit(self._who(actor), action, target, details)

    def revision(self) -> int:
        return self.store.revision()

    def change_feed(self) -> ChangeFeed:
        return self.store.change_feed()
