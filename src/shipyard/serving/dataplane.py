"""The protocol-neutral data plane: load, ready, metadata and infer, for every endpoint.

HTTP routes of every protocol decode their body into model input, call ``infer``, and encode the
``InferResult``; nothing here knows about HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from shipyard.core.errors import ModelFailure, NotFound, SchemaError, ShipyardError, Unavailable
from shipyard.registry.service import RegistryService
from shipyard.serving.batching import AdaptiveBatcher
from shipyard.serving.endpoint import Endpoint, EndpointSpec
from shipyard.serving.metrics import ServingMetrics
from shipyard.serving.runtime import LoadedVersion, ModelInput, Prediction
from shipyard.telemetry.records import PredictionEvent

log = logging.getLogger("shipyard.serving")


@dataclass(frozen=True)
class InferResult:
    endpoint: str
    loaded: LoadedVersion
    prediction: Prediction
    rows: int
    queue_seconds: float
    inference_seconds: float

    @property
    def version(self) -> int:
        return self.loaded.number


class DataPlane:
    def __init__(
        self,
        registry: RegistryService,
        specs: Iterable[EndpointSpec],
        *,
        metrics: ServingMetrics | None = None,
        threads: int = 4,
        log_sink: Callable[[PredictionEvent], bool] | None = None,
    ) -> None:
        self.registry = registry
        self.metrics = metrics or ServingMetrics()
        self.log_sink = log_sink
        """Receives one event per request (never blocks: a full log drops and counts)."""
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

    def load(self, ep: Endpoint) -> LoadedVersion | None:
        """Resolve the endpoint's reference and, if it names another version, load, warm and swap.

        Returns the newly swapped-in version, or None when nothing changed or loading failed (the
        old version keeps serving and the failure is recorded on the endpoint).
        """
        try:
            version = self.registry.resolve(ep.spec.ref)
        except ShipyardError as exc:
            if ep.current is None or not isinstance(exc, Unavailable):
                ep.record_failure(f"cannot resolve {ep.spec.ref}: {exc}", None)
            log.warning("endpoint %s: cannot resolve %s: %s", ep.name, ep.spec.ref, exc)
            return None
        current = ep.current
        if current is not None and current.version.digest == version.digest:
            if current.number != version.version:
                ep.current = LoadedVersion(version, current.model, current.load_seconds)
            return None
        if ep.failed_digest == version.digest:
            return None  # already failed; retried when the reference moves again
        started = time.perf_counter()
        try:
            model = self.registry.load_version(version)
            loaded = LoadedVersion(version, model, 0.0)
            loaded.warm()
        except Exception as exc:  # any failure to load or warm keeps the old version serving
            message = f"{version.ref} failed to load or warm: {type(exc).__name__}: {exc}"
            ep.record_failure(message, version.digest)
            self.metrics.load_failures.labels(ep.name).inc()
            log.error(
                "endpoint %s: %s; still serving %s",
                ep.name,
                message,
                current.version.ref if current else "nothing",
            )
            return None
        loaded.load_seconds = time.perf_counter() - started
        self.metrics.load_seconds.labels(ep.name, str(version.version)).set(loaded.load_seconds)
        ep.current = loaded
        ep.last_error = None
        ep.failed_digest = None
        if current is not None:
            ep.swaps += 1
            self.metrics.swaps.labels(ep.name).inc()
            log.info("endpoint %s: swapped %s -> %s", ep.name, current.version.ref, version.ref)
        else:
            log.info(
                "endpoint %s: serving %s (loaded in %.3f s)",
                ep.name,
                version.ref,
                loaded.load_seconds,
            )
        return loaded

    def load_all(self) -> None:
        for ep in self.endpoints.values():
            self.load(ep)

    def refresh(self) -> None:
        """Re-resolve every endpoint that follows an alias (after a registry change)."""
        for ep in self.endpoints.values():
            if ep.spec.follows or ep.current is None:
                self.load(ep)

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

    def serving(self, name: str, version: int | None = None) -> LoadedVersion:
        """The loaded version answering for ``name`` (and, if given, exactly ``version``)."""
        ep = self.endpoint(name)
        loaded = ep.current
        if loaded is None:
            detail = f": {ep.last_error}" if ep.last_error else ""
            raise Unavailable(f"endpoint {name!r} is not ready yet{detail}")
        if version is not None and version != loaded.number:
            raise NotFound(f"endpoint {name!r} serves version {loaded.number}, not {version}")
        return loaded

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
        pinned: LoadedVersion | None = None,
        request_id: str = "",
    ) -> InferResult:
        """Validate ``data`` against the served version's signature and predict.

        ``pinned`` is the version whose signature the caller decoded the request with (from
        ``serving``); it answers even if a swap happened in between.
        """
        ep = self.endpoint(name)
        batcher = ep.batcher
        received = time.perf_counter()
        if batcher is not None:
            batcher.arriving += 1  # tells a filling batch that one more request is on its way
        try:
            loaded = pinned or self.serving(name, version)
            try:
                validated = loaded.model.validate(data)
            except SchemaError as exc:
                self._log(name, request_id, loaded, received, "invalid", error=str(exc))
                raise
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
            raise ModelFailure(
                f"model {loaded.version.ref} raised {type(exc).__name__}: {exc}"
            ) from exc
        inference = time.perf_counter() - started - queued
        labels = (name, str(loaded.number))
        self.metrics.queue_seconds.labels(*labels).observe(queued)
        self.metrics.inference_seconds.labels(*labels).observe(inference)
        if batcher is None:
            self.metrics.batch_rows.labels(name).observe(rows)
        self._log(name, request_id, loaded, received, "ok", inputs=validated, prediction=prediction)
        return InferResult(name, loaded, prediction, rows, queued, inference)

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
            )
        )
