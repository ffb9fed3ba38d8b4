"""The protocol-neutral data plane: load, ready, metadata and infer, for every endpoint.

HTTP routes of every protocol decode their body into model input, call ``infer``, and encode the
``InferResult``; nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from shipyard.core.errors import ModelFailure, NotFound, SchemaError, ShipyardError, Unavailable
from shipyard.package.explanation import Explanation
from shipyard.package.model import Model
from shipyard.registry.deployment_service import DeploymentService
from shipyard.registry.entities import ModelVersion
from shipyard.registry.service import RegistryService
from shipyard.serving.batching import AdaptiveBatcher
from shipyard.serving.codecs import v2
from shipyard.serving.codecs.tensors import Tensor
from shipyard.serving.endpoint import Endpoint, EndpointSpec
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.router import LoadedRoute, LoadedShadow, RouteTable
from shipyard.serving.runtime import LoadedVersion, ModelInput, Prediction
from shipyard.telemetry.records import SHADOW, PredictionEvent

log = logging.getLogger("shipyard.serving")


MAX_PENDING_SHADOWS = 64
"""Shadow predictions waiting or running at once; beyond that, mirrors are skipped (and counted)."""


def _sticky_value(table: RouteTable, data: object, headers: Mapping[str, str] | None) -> str | None:
    sticky = table.sticky
    if sticky is None:
        return None
    if sticky.kind == "header":
        return None if headers is None else headers.get(sticky.name.lower())
    try:  # an input field: its value in the first row
        if isinstance(data, pd.DataFrame):
            return str(data[sticky.name].iloc[0]) if sticky.name in data.columns else None
        if isinstance(data, Mapping):
            column = data.get(sticky.name)
            return (
                None if column is None else str(column[0] if isinstance(column, list) else column)
            )
        if isinstance(data, list) and data and isinstance(data[0], Mapping):
            value = data[0].get(sticky.name)
            return None if value is None else str(value)
    except (IndexError, KeyError, TypeError):
        return None
    return None


@dataclass(frozen=True)
class InferResult:
    endpoint: str
    loaded: LoadedVersion
    prediction: Prediction
    rows: int
    queue_seconds: float
    inference_seconds: float
    data: object = None
    """The request's input as decoded (shadows validate it against their own signature)."""
    shadows: list[LoadedVersion] = field(default_factory=list)
    explanation: Explanation | None = None
    """Set by ``DataPlane.explain``."""

    @property
    def version(self) -> int:
        return self.loaded.number


class DataPlane:
    def __init__(
        self,
        registry: RegistryService,
        deployments: DeploymentService,
        specs: Iterable[EndpointSpec],
        *,
        metrics: ServingMetrics | None = None,
        threads: int = 4,
        log_sink: Callable[[PredictionEvent], bool] | None = None,
        explain_sample: float = 0.0,
        seed: int | None = None,
        preloaded: Mapping[str, Model] | None = None,
    ) -> None:
        self.registry = registry
        self.deployments = deployments
        self.metrics = metrics or ServingMetrics()
        self.log_sink = log_sink
        """Receives one event per request (never blocks: a full log drops and counts)."""
        self._shadows_pending = 0
        if not 0.0 <= explain_sample <= 1.0:
            raise ValueError(f"explain_sample must be within [0, 1], got {explain_sample}")
        self.explain_sample = explain_sample
        """Share of logged requests whose explanation is logged too (audit)."""
        self._sampler = random.Random(seed)
        self._preloaded = dict(preloaded or {})
        """Models loaded before this process forked, by digest: each taken by its first load."""
        self.endpoints: dict[str, Endpoint] = {}
        for spec in specs:
            if spec.name in self.endpoints:
                raise ValueError(f"two endpoints are named {spec.name!r}")
            self.endpoints[spec.name] = Endpoint(spec)
        self.executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="shipyard-predict"
        )
        for ep in self.endpoints.values():
            if ep.spec.batching is not None:
                ep.batcher = AdaptiveBatcher(
                    ep.spec.batching,
                    self.executor,
                    on_batch=self.metrics.batch_rows.labels(ep.name).observe,
                )

    # -- lifecycle ----------------------------------------------------------------------------------

    def load(self, ep: Endpoint) -> RouteTable | None:
        """Resolve the endpoint's deployment and swap in a new route table if anything changed.

        Every version the deployment names is loaded and warmed before the swap; versions already
        loaded are reused. If any fails, nothing is swapped: the old table keeps serving and the
        failure is recorded on the endpoint. Returns the new table, or None when nothing changed.
        """
        try:
            deployment = self.deployments.resolve(ep.name, ep.spec.target)
            resolved = [(t, self.registry.resolve(t)) for t in deployment.spec.targets()]
        except ShipyardError as exc:
            if ep.table is None or not isinstance(exc, Unavailable):
                ep.record_failure(f"cannot resolve deployment {ep.name!r}: {exc}", None)
            log.warning("endpoint %s: cannot resolve its deployment: %s", ep.name, exc)
            return None
        old = ep.table
        have = {lv.version.digest: lv for lv in (old.loaded_versions() if old else [])}
        key = (deployment.revision, tuple((t, v.digest, v.version) for t, v in resolved))
        if old is not None and old.key == key:
            return None
        loaded: dict[tuple[str, int], LoadedVersion] = {}
        for _target, version in resolved:
            key_v = (version.name, version.version)
            if key_v in loaded:
                continue
            reuse = have.get(version.digest)  # same content: share the loaded model
            if reuse is not None:
                loaded[key_v] = (
                    reuse
                    if reuse.version == version
                    else LoadedVersion(version, reuse.model, reuse.load_seconds)
                )
                continue
            if version.digest in ep.failed_digests:
                return None  # already failed; retried when the deployment or alias moves again
            fresh = self._load_version(ep, version)
            if fresh is None:
                return None
            loaded[key_v] = fresh
            have[version.digest] = fresh
        by_target = {t: loaded[(v.name, v.version)] for t, v in resolved}
        spec = deployment.spec
        table = RouteTable(
            routes=tuple(LoadedRoute(r.target, by_target[r.target], r.weight) for r in spec.routes),
            shadows=tuple(
                LoadedShadow(s.target, by_target[s.target], s.percent) for s in spec.shadows
            ),
            sticky=spec.sticky,
            revision=deployment.revision,
            key=key,
        )
        ep.table = table
        ep.last_error = None
        ep.failed_digests.clear()
        if old is not None:
            ep.swaps += 1
            self.metrics.swaps.labels(ep.name).inc()
            log.info("endpoint %s: now serving %s", ep.name, table.describe())
        else:
            log.info("endpoint %s: serving %s", ep.name, table.describe())
        return table

    def _load_version(self, ep: Endpoint, version: ModelVersion) -> LoadedVersion | None:
        started = time.perf_counter()
        try:
            model = self._preloaded.pop(version.digest, None) or self.registry.load_version(version)
            loaded = LoadedVersion(version, model, 0.0)
            loaded.warm()
        except Exception as exc:  # any failure to load or warm keeps the old table serving
            message = f"{version.ref} failed to load or warm: {type(exc).__name__}: {exc}"
            ep.record_failure(message, version.digest)
            self.metrics.load_failures.labels(ep.name).inc()
            log.error("endpoint %s: %s; the previous versions keep serving", ep.name, message)
            return None
        loaded.load_seconds = time.perf_counter() - started
        self.metrics.load_seconds.labels(ep.name, str(version.version)).set(loaded.load_seconds)
        return loaded

    def load_all(self) -> None:
        for ep in self.endpoints.values():
            self.load(ep)

    def refresh(self) -> None:
        """Re-resolve every endpoint (after a registry change)."""
        self.load_all()

    async def close(self) -> None:
        for ep in self.endpoints.values():
            if ep.batcher is not None:
                await ep.batcher.close()
        self.executor.shutdown(wait=True)

    # -- queries ------------------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        return all(ep.ready for ep in self.endpoints.values())

    def endpoint(self, name: str) -> Endpoint:
        ep = self.endpoints.get(name)
        if ep is None:
            raise NotFound(
                f"no endpoint named {name!r}; served: {', '.join(sorted(self.endpoints)) or 'none'}"
            )
        return ep

    def table(self, name: str) -> RouteTable:
        ep = self.endpoint(name)
        table = ep.table
        if table is None:
            detail = f": {ep.last_error}" if ep.last_error else ""
            raise Unavailable(f"endpoint {name!r} is not ready yet{detail}")
        return table

    def serving(self, name: str, version: int | None = None) -> LoadedVersion:
        """The version whose signature describes ``name`` (or exactly ``version``, if served)."""
        table = self.table(name)
        if version is None:
            return table.primary
        found = table.version(version)
        if found is None:
            served = sorted({lv.number for lv in table.loaded_versions()})
            raise NotFound(
                f"endpoint {name!r} serves version {', '.join(map(str, served))}, not {version}"
            )
        return found

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "endpoints": [ep.status() for ep in self.endpoints.values()],
        }

    # -- inference ----------------------------------------------------------------------------------

    async def infer(
        self,
        name: str,
        data: object,
        *,
        version: int | None = None,
        want_proba: bool = False,
        request_id: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> InferResult:
        """Route the request, validate ``data`` against that version's signature, and predict.

        ``version`` pins a served version; otherwise the deployment's routes decide (weights, or the
        sticky key from ``headers`` or from the input). The result names the shadows to run after
        the response is sent (``run_shadows``).
        """
        ep = self.endpoint(name)
        batcher = ep.batcher
        received = time.perf_counter()
        if batcher is not None:
            batcher.arriving += 1  # tells a filling batch that one more request is on its way
        try:
            table, loaded, validated = self._route(name, data, version, request_id, headers)
        finally:
            if batcher is not None:
                batcher.arriving -= 1
        rows = len(validated)
        # the log keeps probabilities for drift and label-free estimates even when not asked for
        want_proba = want_proba or (self.log_sink is not None and loaded.has_proba)
        started = time.perf_counter()
        try:
            if batcher is not None:
                prediction, queued, _ = await batcher.submit(loaded, validated, want_proba)
            elif loaded.runs_inline(rows):
                prediction = loaded.predict(validated, want_proba)
                queued = 0.0
            else:
                loop = asyncio.get_running_loop()
                prediction = await loop.run_in_executor(
                    self.executor, loaded.predict, validated, want_proba
                )
                queued = 0.0
        except ShipyardError:
            raise
        except Exception as exc:
            log.error(
                "endpoint %s: model %s raised %s: %s",
                name,
                loaded.version.ref,
                type(exc).__name__,
                exc,
            )
            raise self._failed(
                name, request_id, loaded, received, validated, exc, "raised"
            ) from exc
        inference = time.perf_counter() - started - queued
        labels = (name, str(loaded.number))
        self.metrics.queue_seconds.labels(*labels).observe(queued)
        self.metrics.inference_seconds.labels(*labels).observe(inference)
        if batcher is None:
            self.metrics.batch_rows.labels(name).observe(rows)
        if self.explain_sample > 0 and self._sampler.random() < self.explain_sample:
            self._log_explained(name, request_id, loaded, received, validated, prediction)
        else:
            self._log(
                name, request_id, loaded, received, "ok", inputs=validated, prediction=prediction
            )
        shadows = table.shadows_for(loaded) if version is None else []
        return InferResult(name, loaded, prediction, rows, queued, inference, data, shadows)

    async def infer_v2(
        self,
        name: str,
        request: v2.V2Request,
        *,
        version: int | None = None,
        request_id: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> tuple[InferResult, list[Tensor]]:
        """``infer`` for V2 tensors (HTTP JSON, HTTP binary and gRPC alike): the output tensors."""
        loaded = self.serving(name, version)  # routes of one deployment share a signature
        data = v2.tensors_to_input(loaded.model.signature, request.inputs)
        wanted = request.outputs
        want_proba = wanted is None or any(o.name == "probabilities" for o in wanted)
        result = await self.infer(
            name,
            data,
            version=version,
            want_proba=want_proba,
            request_id=request_id,
            headers=headers,
        )
        pred = result.prediction
        outputs = v2.output_tensors(
            pred.predictions,
            pred.probabilities if want_proba else None,
            result.loaded.model.classes,
        )
        return result, outputs

    def _failed(
        self,
        name: str,
        request_id: str,
        loaded: LoadedVersion,
        received: float,
        validated: ModelInput,
        exc: Exception,
        what: str,
    ) -> ModelFailure:
        """Log a request the model failed, and the error that answers it (predict and explain)."""
        self._log(
            name,
            request_id,
            loaded,
            received,
            "error",
            inputs=validated,
            error=f"{type(exc).__name__}: {exc}",
        )
        return ModelFailure(
            f"model {loaded.version.ref} {what} {type(exc).__name__}: {exc}",
            model=loaded.version.name,
            version=loaded.number,
        )

    def _route(
        self,
        name: str,
        data: object,
        version: int | None,
        request_id: str,
        headers: Mapping[str, str] | None,
    ) -> tuple[RouteTable, LoadedVersion, ModelInput]:
        """Pick the version that answers (pinned, sticky or weighted) and validate ``data``."""
        received = time.perf_counter()
        table = self.table(name)
        if version is not None:
            loaded = self.serving(name, version)
        else:
            loaded = table.pick(_sticky_value(table, data, headers))
        try:
            validated = loaded.model.validate(data)
        except SchemaError as exc:
            self._log(name, request_id, loaded, received, "invalid", error=str(exc))
            raise
        return table, loaded, validated

    async def explain(
        self,
        name: str,
        data: object,
        *,
        version: int | None = None,
        target: object | None = None,
        request_id: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> InferResult:
        """Like ``infer`` (same routing, validation, metrics and log), with an explanation.

        The version that the routes pick is the version explained; its prediction is logged as
        usual. Explanations are not mirrored to shadows.
        """
        received = time.perf_counter()
        _, loaded, validated = self._route(name, data, version, request_id, headers)
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            explanation = await loop.run_in_executor(
                self.executor, lambda: loaded.model.explain_validated(validated, target=target)
            )
        except ShipyardError:
            raise
        except Exception as exc:
            raise self._failed(
                name, request_id, loaded, received, validated, exc, "could not be explained:"
            ) from exc
        elapsed = time.perf_counter() - started
        self.metrics.inference_seconds.labels(name, str(loaded.number)).observe(elapsed)
        prediction = Prediction(explanation.predictions)
        self._log(
            name,
            request_id,
            loaded,
            received,
            "ok",
            inputs=validated,
            prediction=prediction,
            explanation=explanation,
        )
        return InferResult(
            name, loaded, prediction, len(validated), 0.0, elapsed, data, explanation=explanation
        )

    def _log_explained(
        self,
        name: str,
        request_id: str,
        loaded: LoadedVersion,
        received: float,
        validated: ModelInput,
        prediction: Prediction,
    ) -> None:
        """Log a sampled request with its explanation, computed off the request path.

        The work runs in the predict pool (thread-safe log sink), so ``close`` waits for it
        before the log writer closes: a sampled request is never lost at shutdown.
        """
        if self.log_sink is None:
            return

        def explain_and_log() -> None:
            try:
                explanation: Explanation | None = loaded.model.explain_validated(validated)
            except Exception as exc:  # the prediction is still logged, without attributions
                log.warning("endpoint %s: explanation for the log failed: %s", name, exc)
                self.metrics.explain_failures.labels(name).inc()
                explanation = None
            self._log(
                name,
                request_id,
                loaded,
                received,
                "ok",
                inputs=validated,
                prediction=prediction,
                explanation=explanation,
            )

        self.executor.submit(explain_and_log)

    async def run_shadows(self, result: InferResult, request_id: str) -> None:
        """Mirror a request to its shadows (after the response): logged with route=shadow, never
        returned; a failing or slow shadow only affects its own log record."""
        if self._shadows_pending >= MAX_PENDING_SHADOWS:
            self.metrics.shadows_skipped.labels(result.endpoint).inc()
            return
        loop = asyncio.get_running_loop()
        for shadow in result.shadows:
            self._shadows_pending += 1
            received = time.perf_counter()
            try:
                validated = shadow.model.validate(result.data)
                prediction = await loop.run_in_executor(
                    self.executor, shadow.predict, validated, shadow.has_proba
                )
            except Exception as exc:  # a shadow never affects anything but its own record
                self._log(
                    result.endpoint,
                    request_id,
                    shadow,
                    received,
                    "error",
                    route=SHADOW,
                    error=f"{type(exc).__name__}: {exc}",
                )
            else:
                self._log(
                    result.endpoint,
                    request_id,
                    shadow,
                    received,
                    "ok",
                    inputs=validated,
                    prediction=prediction,
                    route=SHADOW,
                )
            finally:
                self._shadows_pending -= 1

    def _log(
        self,
        name: str,
        request_id: str,
        loaded: LoadedVersion,
        received: float,
        status: str,
        *,
        inputs: ModelInput | None = None,
        prediction: Prediction | None = None,
        error: str | None = None,
        route: str = "primary",
        explanation: Explanation | None = None,
    ) -> None:
        if self.log_sink is None:
            return
        self.log_sink(
            PredictionEvent(
                request_id=request_id,
                ts=time.time(),
                endpoint=name,
                model=loaded.version.name,
                version=loaded.number,
                route=route,
                status=status,
                latency_ms=(time.perf_counter() - received) * 1000,
                inputs=inputs,
                predictions=None if prediction is None else prediction.predictions,
                probabilities=None if prediction is None else prediction.probabilities,
                classes=loaded.model.classes,
                error=error,
                attributions=None if explanation is None else _attribution_frame(explanation),
            )
        )


def _attribution_frame(explanation: Explanation) -> pd.DataFrame:
    frame = pd.DataFrame(explanation.attributions, columns=list(explanation.columns))
    frame["base"] = explanation.base_values
    return frame
