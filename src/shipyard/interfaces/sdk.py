"""The Python SDK: ``log_model``, ``load_model`` and ``Client``.

``Client`` works on a registry home (or the settings from the environment); module-level
``log_model``/``load_model`` use a client built from ``Settings()`` on first use.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard.app import Services, build
from shipyard.core.config import Settings, load_settings
from shipyard.core.errors import InvalidArgument
from shipyard.interfaces.remote import RemoteRegistry, RemoteServer
from shipyard.interfaces.serialize import plain
from shipyard.registry.deployments import (
    Deployment,
    DeploymentSpec,
    RolloutRecord,
    Route,
    Shadow,
    Sticky,
)
from shipyard.registry.entities import AliasEvent, ModelVersion, RegisteredModel

if TYPE_CHECKING:  # numpy, pandas and the lifecycle load when a method needs them
    import numpy.typing as npt
    import pandas as pd

    from shipyard.lifecycle.service import RolloutStatus
    from shipyard.monitoring.file_drift import DriftReport
    from shipyard.package.explanation import Explanation
    from shipyard.package.model import Model
    from shipyard.package.signature import Signature
    from shipyard.registry.service import RegistryService


class Client:
    """One client, local or remote, with the same methods.

    ``Client()`` uses the registry of the current settings (``SHIPYARD_*``), ``Client(home=...)`` or
    ``Client("/path/to/home")`` another local one, and ``Client("http://127.0.0.1:8000", token=...)`` a
    running ``shipyard serve``: predictions through the same codecs as the server, and aliases,
    approvals and rollouts through its management API as the token's principal.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        timeout: float = 30.0,
        token: str | None = None,
    ) -> None:
        self._services: Services | None = None
        self._remote: RemoteServer | None = None
        self._management: RemoteRegistry | None = None
        if isinstance(target, str) and target.startswith(("http://", "https://")):
            self._remote = RemoteServer(target, timeout=timeout, token=token)
            self._management = RemoteRegistry(target, token=token, timeout=timeout)
            return
        home = home if home is not None else target
        if settings is None:
            settings = load_settings(home=Path(home)) if home is not None else load_settings()
        self._services = build(settings)

    @property
    def registry(self) -> RegistryService:
        if self._services is None:
            raise InvalidArgument(
                "this client talks to a model server; registry operations need a local client "
                "(Client() or Client(home=...))"
            )
        return self._local.registry

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
        if self._remote is not None:
            self._remote.close()
        if self._management is not None:
            self._management.close()

    def predict(self, target: str, data: object) -> npt.NDArray[Any]:
        """Predictions of an endpoint (remote) or a model reference (local) on ``data``."""
        if self._remote is not None:
            return self._remote.predict(target, data, probabilities=False)[0]
        return self.load_model(target).predict(data)

    def explain(
        self, target: str, data: object, *, explained_class: object | None = None
    ) -> Explanation:
        """Per-row attributions of the predictions to the input columns (see ``Explanation``).

        Remote: the endpoint's routes pick the version, which is the version explained.
        """
        if self._remote is not None:
            return self._remote.explain(target, data, target=explained_class)
        return self.load_model(target).explain(data, target=explained_class)

    def predict_proba(self, target: str, data: object) -> npt.NDArray[Any]:
        if self._remote is not None:
            proba = self._remote.predict(target, data, probabilities=True)[1]
            if proba is None:
                raise InvalidArgument(f"endpoint {target!r} gives no probabilities")
            return proba
        return self.load_model(target).predict_proba(data)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def log_model(
        self,
        model: object,
        *,
        name: str,
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
    ) -> ModelVersion:
        """Package ``model`` and register it as the next version of ``name``."""
        return self.registry.log_model(
            model,
            name=name,
            X_sample=X_sample,
            y_sample=y_sample,
            signature=signature,
            flavor=flavor,
            flavor_options=flavor_options,
            metrics=metrics,
            params=params,
            tags=tags,
            description=description,
            dataset_name=dataset_name,
            dataset_uri=dataset_uri,
        )

    def load_model(
        self, ref: str, *, allow_pickle: bool | None = None, allow_code: bool | None = None
    ) -> Model:
        """Load ``name/3``, ``name@alias`` or ``models:/...``: verified, ready to ``predict``."""
        return self.registry.load(ref, allow_pickle=allow_pickle, allow_code=allow_code)

    def register(self, path: str | os.PathLike[str], *, name: str | None = None) -> ModelVersion:
        return self.registry.register(path, name=name)

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str = ""
    ) -> AliasEvent | dict[str, Any]:
        """Point ``name@alias`` at ``version`` (remotely: the event as the server returns it)."""
        if self._management is not None:
            result: dict[str, Any] = self._management.set_alias(name, alias, version, reason=reason)
            return result
        return self.registry.set_alias(name, alias, version, reason=reason)

    def approve(self, name: str, version: int, *, comment: str = "") -> dict[str, Any]:
        """Approve ``name/version`` as this client's principal (the token's, or the OS user)."""
        return self._decide("approve", name, version, comment)

    def reject(self, name: str, version: int, *, comment: str = "") -> dict[str, Any]:
        return self._decide("reject", name, version, comment)

    def _decide(self, decision: str, name: str, version: int, comment: str) -> dict[str, Any]:
        if self._management is not None:
            result: dict[str, Any] = self._management.decide(
                decision, name, version, comment=comment
            )
            return result
        gov = self._local.governance
        decide = gov.approve if decision == "approve" else gov.reject
        status = decide(name, version, actor=self.registry.actor, comment=comment)
        return dict(plain(status))

    def feedback(self, labels: Mapping[str, object], *, overwrite: bool = False) -> dict[str, Any]:
        """Ground truth by request id (a list of N labels for an N-row request); replacing a label
        already recorded needs ``overwrite=True``. Returns what was accepted and the unknown ids."""
        if self._remote is not None:
            return self._remote.feedback(labels, overwrite=overwrite)
        assert self._services is not None
        return self._services.feedback.append(list(labels.items()), overwrite=overwrite).to_dict()

    def deploy(
        self,
        name: str,
        routes: Mapping[str, float],
        *,
        shadows: Mapping[str, float] | None = None,
        sticky: tuple[str, str] | None = None,
    ) -> Deployment:
        """Create or change deployment ``name``: ``{"churn@champion": 90, "churn/4": 10}``."""
        spec = DeploymentSpec(
            routes=tuple(Route(t, float(w)) for t, w in routes.items()),
            shadows=tuple(Shadow(t, float(p)) for t, p in (shadows or {}).items()),
            sticky=None if sticky is None else Sticky(sticky[0], sticky[1]),  # type: ignore[arg-type]
        )
        deployments = self._local.deployments
        if deployments.store.find(name) is None:
            return deployments.create(name, spec)
        return deployments.set(name, spec, reason="sdk")

    def start_rollout(
        self, endpoint: str, to_version: int, **options: Any
    ) -> RolloutRecord | dict[str, Any]:
        """Start a rollout (``strategy``, ``steps``, ``interval``, ``gates``: see ``shipyard rollout``)."""
        if self._management is not None:
            result: dict[str, Any] = self._management.start_rollout(
                endpoint, {"to": to_version, **options}
            )
            return result
        return self._local.rollouts.start(endpoint, to_version=to_version, **options)

    def rollout_status(self, endpoint: str) -> RolloutStatus:
        return self._local.rollouts.status(endpoint)

    @property
    def _local(self) -> Services:
        """The local services (built on first use); a remote client has none."""
        if self._services is None:
            raise InvalidArgument(
                "this client talks to a model server; use a local client for this"
            )
        return self._services

    def get_model(self, name: str) -> RegisteredModel:
        return self.registry.get_model(name)

    def resolve(self, ref: str) -> ModelVersion:
        return self.registry.resolve(ref)


_default: Client | None = None


def default_client() -> Client:
    global _default
    if _default is None:
        _default = Client()
    return _default


def log_model(model: object, *, name: str, **options: Any) -> ModelVersion:
    """Package and register ``model`` in the registry of the current settings (``SHIPYARD_*``)."""
    return default_client().log_model(model, name=name, **options)


def load_model(
    ref: str, *, allow_pickle: bool | None = None, allow_code: bool | None = None
) -> Model:
    """Load a registered model by reference from the registry of the current settings.

    A package that runs its own Python code (python flavor) loads only with ``allow_code=True``,
    ``SHIPYARD_ALLOW_CODE=1`` or after ``shipyard trust MODEL VERSION``."""
    return default_client().load_model(ref, allow_pickle=allow_pickle, allow_code=allow_code)


def drift(
    reference: pd.DataFrame | str | os.PathLike[str],
    current: pd.DataFrame | str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    stattest: str | None = None,
) -> DriftReport:
    """Check ``current`` for drift against ``reference``: the statistics and verdict of a monitor run.

    ``reference`` is a DataFrame, a Parquet/CSV path or URL, or a model reference (``churn@champion``,
    whose package's reference profile is used, from the registry of the current settings);
    ``current`` a DataFrame or a Parquet/CSV path or URL, read in batches. ``report.drift`` is the
    dataset verdict, ``report.drifted`` the drifted columns, ``report.to_dict()`` the JSON of
    ``shipyard drift --json``.
    """
    import pandas as pd

    from shipyard.monitoring.file_drift import drift as file_drift
    from shipyard.monitoring.file_drift import drift_config

    def registry() -> RegistryService:
        return default_client().registry

    return file_drift(
        reference if isinstance(reference, pd.DataFrame) else os.fspath(reference),
        current if isinstance(current, pd.DataFrame) else os.fspath(current),
        registry=registry,
        columns=columns,
        config=drift_config(stattest),
    )
