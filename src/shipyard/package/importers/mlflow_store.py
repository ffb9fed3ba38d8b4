"""MLflow tracking stores on local disk, read without mlflow: ``runs:/`` and ``models:/`` URIs
resolved to a model folder, and a run's params and metrics.

Two backends are read, as MLflow 2.x and 3.x write them:

- a sqlite database (``sqlite:///mlflow.db``), opened read-only;
- a file store (``./mlruns``, ``file:///path/mlruns``: MLflow 2's default).

URIs follow MLflow's rules: ``runs:/<run id>/<path>`` is the run's own artifacts at ``path`` (how
MLflow 2 logged models) or else the logged model named by the first part of ``path`` that the run
produced (MLflow 3); ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``models:/<name>/latest``, ``models:/<name>/<stage>`` and ``models:/<logged model id>``.
A relative artifact location is read against the working directory, as MLflow does.
Anything else (a tracking server, another database, artifacts on S3...) is left to mlflow itself.
"""

from __future__ import annotations

import math
import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

import yaml

from shipyard.core.errors import InvalidArgument, NotFound

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
"""Run ids, logged model ids, aliases and stages (never a path: they name files of a file store)."""
_DELETED_STAGE = "deleted_internal"
_STAGES = {"none": "None", "staging": "Staging", "production": "Production", "archived": "Archived"}


@dataclass(frozen=True)
class RunData:
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """Where a ``runs:/`` or ``models:/`` URI's model is, and the run that made it (if known)."""

    location: str
    """An artifact location as the store records it: a path or a URI (``file:``, ``s3:``...)."""
    run_id: str | None


@dataclass(frozen=True)
class _Version:
    version: int
    stage: str
    location: str
    run_id: str | None


class TrackingStore(Protocol):
    """What the resolver needs from a store."""

    description: str

    def run_artifacts(self, run_id: str) -> str: ...

    def logged_model(self, run_id: str, name: str) -> str | None:
        """The artifact location of the logged model ``name`` produced by the run, if any."""
        ...

    def logged_model_by_id(self, model_id: str) -> tuple[str, str | None]:
        """``(artifact location, source run id)`` of a logged model."""
        ...

    def versions(self, name: str) -> list[_Version]: ...

    def alias(self, name: str, alias: str) -> int: ...

    def run_data(self, run_id: str) -> RunData: ...


def open_store(tracking_uri: str) -> TrackingStore | None:
    """The local store ``tracking_uri`` names, or None when it is not one (mlflow reads it)."""
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite":
        if not tracking_uri.startswith("sqlite:///") or parsed.path in ("", "/", "/:memory:"):
            raise InvalidArgument(
                f"--tracking-uri: expected sqlite:///<path to the database>, got {tracking_uri!r}"
            )
        return SqliteStore(Path(unquote(tracking_uri[len("sqlite:///") :].split("?", 1)[0])))
    path = local_path(tracking_uri)
    if path is None:
        return None
    if not path.is_dir():
        raise NotFound(f"--tracking-uri: no MLflow file store at {path}")
    return FileStore(path)


def local_path(location: str) -> Path | None:
    """A local path for ``location`` (a path or a ``file:`` URI), or None for a remote one."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" or (len(parsed.scheme) == 1 and location[1:3] in (":\\", ":/")):
        return Path(location)  # a relative or absolute path (or a Windows drive)
    return None


def resolve(store: TrackingStore, uri: str) -> Resolved:
    """The model folder location of a ``runs:/`` or ``models:/`` URI (see the module doc)."""
    if uri.startswith("runs:/"):
        return _resolve_run(store, uri)
    if uri.startswith("models:/"):
        return _resolve_model(store, uri)
    raise InvalidArgument(f"expected a runs:/ or models:/ URI, got {uri!r}")


def _resolve_run(store: TrackingStore, uri: str) -> Resolved:
    run_id, _, path = uri[len("runs:/") :].strip("/").partition("/")
    _check_id(run_id, "run id", uri)
    root = store.run_artifacts(run_id)
    in_run = _join(root, path)
    local = local_path(in_run)
    if not path or (local is not None and (local / "MLmodel").is_file()):
        return Resolved(in_run, run_id)
    name, _, rest = path.partition("/")
    logged = store.logged_model(run_id, name)
    if logged is None:
        raise NotFound(
            f"{uri}: the run has no model at {path!r} (neither in its artifacts nor a logged "
            f"model named {name!r}) in {store.description}"
        )
    return Resolved(_join(logged, rest), run_id)


def _resolve_model(store: TrackingStore, uri: str) -> Resolved:
    parts = uri[len("models:/") :].strip("/").split("/")
    shape = (
        f"{uri}: expected models:/<name>/<version, stage or latest>, models:/<name>@<alias> or "
        "models:/<model id>"
    )
    if len(parts) > 2 or not parts[0]:
        raise InvalidArgument(shape)
    if len(parts) == 1 and "@" not in parts[0]:
        _check_id(parts[0], "model id", uri)
        location, run_id = store.logged_model_by_id(parts[0])
        return Resolved(location, run_id)
    if len(parts) == 1:
        name, _, alias = parts[0].rpartition("@")
        if not name or not alias:
            raise InvalidArgument(shape)
        _check_id(alias, "alias", uri)
        number = store.alias(name, alias)
        version = next((v for v in store.versions(name) if v.version == number), None)
    else:
        name, suffix = parts
        versions = [v for v in store.versions(name) if v.stage.lower() != _DELETED_STAGE]
        if suffix.isdigit():
            version = next((v for v in versions if v.version == int(suffix)), None)
        elif suffix.lower() == "latest":
            version = max(versions, key=lambda v: v.version, default=None)
        else:
            stage = _STAGES.get(suffix.lower())
            if stage is None:
                raise InvalidArgument(
                    f"{uri}: {suffix!r} is not a version, 'latest' or a stage "
                    f"({', '.join(_STAGES.values())})"
                )
            staged = [v for v in versions if v.stage == stage]
            version = max(staged, key=lambda v: v.version, default=None)
    if version is None:
        raise NotFound(f"{uri}: no such model version in {store.description}")
    if version.location.startswith(("models:/", "runs:/")):  # a version registered from a URI
        found = resolve(store, version.location)
        return Resolved(found.location, version.run_id or found.run_id)
    return Resolved(version.location, version.run_id)


def _check_id(value: str, what: str, uri: str) -> None:
    if not _ID.match(value):
        raise InvalidArgument(f"{uri}: {value!r} is not a valid {what}")


def _join(location: str, path: str) -> str:
    return f"{location.rstrip('/')}/{path}" if path else location


# -- sqlite ------------------------------------------------------------------------------------------


class SqliteStore:
    """A sqlite tracking database, read-only (MLflow's SQLAlchemy schema, 2.x and 3.x)."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise NotFound(f"--tracking-uri: no MLflow database at {path}")
        self.description = f"the MLflow database {path}"
        self._path = path

    def _rows(self, sql: str, *args: object) -> list[dict[str, Any]]:
        db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, args)]
        except sqlite3.DatabaseError as exc:  # not a database, or not MLflow's schema
            raise InvalidArgument(f"{self.description} cannot be read: {exc}") from exc
        finally:
            db.close()

    def _has(self, table: str) -> bool:
        return bool(self._rows("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", table))

    def run_artifacts(self, run_id: str) -> str:
        rows = self._rows("SELECT artifact_uri FROM runs WHERE run_uuid = ?", run_id)
        if not rows:
            raise NotFound(f"run {run_id} not found in {self.description}")
        return str(rows[0]["artifact_uri"])

    def logged_model(self, run_id: str, name: str) -> str | None:
        if not self._has("logged_models"):  # MLflow 2: models are run artifacts only
            return None
        rows = self._rows(
            "SELECT artifact_location FROM logged_models WHERE source_run_id = ? AND name = ? "
            "AND lifecycle_stage != 'deleted' ORDER BY creation_timestamp_ms DESC",
            run_id,
            name,
        )
        return str(rows[0]["artifact_location"]) if rows else None

    def logged_model_by_id(self, model_id: str) -> tuple[str, str | None]:
        rows = (
            self._rows(
                "SELECT artifact_location, source_run_id FROM logged_models WHERE model_id = ?",
                model_id,
            )
            if self._has("logged_models")
            else []
        )
        if not rows:
            raise NotFound(f"logged model {model_id} not found in {self.description}")
        return str(rows[0]["artifact_location"]), rows[0]["source_run_id"]

    def versions(self, name: str) -> list[_Version]:
        rows = self._rows("SELECT * FROM model_versions WHERE name = ?", name)
        if not rows and not self._rows("SELECT 1 FROM registered_models WHERE name = ?", name):
            raise NotFound(f"registered model {name!r} not found in {self.description}")
        return [
            _Version(
                version=int(r["version"]),
                stage=str(r.get("current_stage") or "None"),
                location=str(r.get("storage_location") or r["source"]),
                run_id=r.get("run_id"),
            )
            for r in rows
        ]

    def alias(self, name: str, alias: str) -> int:
        rows = self._rows(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            name,
            alias,
        )
        if not rows:
            raise NotFound(f"alias {name}@{alias} not found in {self.description}")
        return int(rows[0]["version"])

    def run_data(self, run_id: str) -> RunData:
        params = self._rows("SELECT key, value FROM params WHERE run_uuid = ?", run_id)
        metrics = self._rows(
            "SELECT key, value, is_nan FROM latest_metrics WHERE run_uuid = ?", run_id
        )
        return RunData(
            params={str(r["key"]): str(r["value"]) for r in params},
            metrics={str(r["key"]): float(r["value"]) for r in metrics if not r["is_nan"]},
        )


# -- file store --------------------------------------------------------------------------------------


class FileStore:
    """An ``mlruns`` folder: ``<experiment>/<run>/meta.yaml``, ``<experiment>/models/<id>/``,
    ``models/<name>/version-<n>/meta.yaml``."""

    def __init__(self, root: Path) -> None:
        self.description = f"the MLflow file store {root}"
        self._root = root

    def _meta(self, path: Path) -> dict[str, Any]:
        try:
            doc = yaml.safe_load(path.read_text())
        except yaml.YAMLError as exc:
            raise InvalidArgument(f"{path} is not valid YAML: {exc}") from exc
        return dict(doc or {})

    def _run_dir(self, run_id: str) -> Path:
        found = sorted(self._root.glob(f"*/{run_id}/meta.yaml"))
        if not found:
            raise NotFound(f"run {run_id} not found in {self.description}")
        return found[0].parent

    def run_artifacts(self, run_id: str) -> str:
        return str(self._meta(self._run_dir(run_id) / "meta.yaml")["artifact_uri"])

    def logged_model(self, run_id: str, name: str) -> str | None:
        experiment = self._run_dir(run_id).parent
        metas = [self._meta(p) for p in experiment.glob("models/*/meta.yaml")]
        matches = [m for m in metas if m.get("source_run_id") == run_id and m.get("name") == name]
        matches.sort(key=lambda m: int(m.get("creation_timestamp") or 0), reverse=True)
        return str(matches[0]["artifact_location"]) if matches else None

    def logged_model_by_id(self, model_id: str) -> tuple[str, str | None]:
        found = sorted(self._root.glob(f"*/models/{model_id}/meta.yaml"))
        if not found:
            raise NotFound(f"logged model {model_id} not found in {self.description}")
        meta = self._meta(found[0])
        return str(meta["artifact_location"]), meta.get("source_run_id")

    def _model_dir(self, name: str) -> Path:
        folder = self._root / "models" / name
        if name in (".", "..") or "/" in name or not (folder / "meta.yaml").is_file():
            raise NotFound(f"registered model {name!r} not found in {self.description}")
        return folder

    def versions(self, name: str) -> list[_Version]:
        out = []
        for path in self._model_dir(name).glob("version-*/meta.yaml"):
            meta = self._meta(path)
            out.append(
                _Version(
                    version=int(meta["version"]),
                    stage=str(meta.get("current_stage") or "None"),
                    location=str(meta.get("storage_location") or meta["source"]),
                    run_id=meta.get("run_id"),
                )
            )
        return out

    def alias(self, name: str, alias: str) -> int:
        folder = self._model_dir(name)
        aliases = self._meta(folder / "meta.yaml").get("aliases") or {}
        if alias in aliases:
            return int(aliases[alias])
        path = folder / "aliases" / alias
        if path.is_file():
            return int(path.read_text().strip())
        raise NotFound(f"alias {name}@{alias} not found in {self.description}")

    def run_data(self, run_id: str) -> RunData:
        run = self._run_dir(run_id)
        params = {  # a key with "/" is a nested file
            p.relative_to(run / "params").as_posix(): p.read_text()
            for p in sorted((run / "params").rglob("*"))
            if p.is_file()
        }
        metrics: dict[str, float] = {}
        for path in sorted((run / "metrics").rglob("*")):
            if not path.is_file():
                continue
            # one "timestamp value [step]" line per logged value; the run's metric is the one of
            # the largest (step, timestamp, value), as MLflow takes it
            points = [
                (int(f[2]) if len(f) > 2 else 0, int(f[0]), float(f[1]))
                for f in (line.split() for line in path.read_text().splitlines())
                if len(f) >= 2
            ]
            if points and not math.isnan(max(points)[2]):
                metrics[path.relative_to(run / "metrics").as_posix()] = max(points)[2]
        return RunData(params=params, metrics=metrics)
