"""Composition root: builds the services from ``Settings``. The only place that wires things."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property, partial
from typing import TYPE_CHECKING

from shipyard.core.config import Settings, load_settings
from shipyard.core.durations import parse_duration
from shipyard.core.errors import InvalidArgument

if TYPE_CHECKING:  # built on first use: a registry command never imports monitoring or DuckDB
    from sqlalchemy import Engine

    from shipyard.lifecycle.controller import Controller
    from shipyard.lifecycle.loop import ClosedLoop
    from shipyard.lifecycle.project import Project
    from shipyard.lifecycle.service import RolloutService
    from shipyard.monitoring.monitor import MonitorService
    from shipyard.registry.deployment_service import DeploymentService
    from shipyard.registry.gc import GarbageCollector
    from shipyard.registry.governance import GovernanceService
    from shipyard.registry.leases import LeaseStore
    from shipyard.registry.service import RegistryService
    from shipyard.registry.sql.deployments import SqlDeploymentStore
    from shipyard.registry.sql.monitoring import SqlMonitorStore
    from shipyard.registry.sql.store import SqlRegistryStore
    from shipyard.registry.tokens import TokenService
    from shipyard.serving.runtime import LoadedVersion
    from shipyard.serving.scoring import BatchScoring
    from shipyard.telemetry.feedback import FeedbackLog
    from shipyard.telemetry.maintenance import LogMaintenance
    from shipyard.telemetry.reader import LogReader
    from shipyard.telemetry.writer import SegmentWriter


class Services:
    """The services over one registry, each built on first use (and then kept).

    Opening the store is the only eager step; moving an alias builds the registry and governance
    services and nothing else, so DuckDB, monitoring and the lifecycle are never imported for it.
    """

    def __init__(self, settings: Settings, store: SqlRegistryStore, *, actor: str) -> None:
        self.settings = settings
        self.store = store
        self.actor = actor

    @cached_property
    def registry(self) -> RegistryService:
        from shipyard.registry.blobs import FsspecBlobStore
        from shipyard.registry.service import RegistryService

        s = self.settings
        artifacts = s.resolved_artifacts_uri()
        return RegistryService(
            self.store,
            FsspecBlobStore(artifacts, **s.storage_options_for(artifacts)),
            cache_dir=s.cache_dir,
            actor=self.actor,
            allow_pickle=s.allow_pickle,
            allow_code=s.allow_code,
        )

    @cached_property
    def logs(self) -> LogReader:
        from shipyard.telemetry.reader import LogReader

        uri = self.settings.resolved_logs_uri()
        return LogReader(uri, self.settings.storage_options_for(uri))

    @cached_property
    def feedback(self) -> FeedbackLog:
        return _feedback_log(self.settings, self.logs, self.registry)

    @cached_property
    def monitoring(self) -> MonitorService:
        from shipyard.monitoring.alerts import AlertManager
        from shipyard.monitoring.monitor import MonitorService
        from shipyard.monitoring.notifiers.base import create_notifier

        s = self.settings
        notifiers = [create_notifier("log", {})]
        if s.alert_webhook_url:
            notifiers.append(
                create_notifier(
                    "webhook", {"url": s.alert_webhook_url, "secret": s.alert_webhook_secret}
                )
            )
        return MonitorService(
            self.registry,
            self.logs,
            self.monitor_store,
            AlertManager(self.monitor_store, notifiers),
            self.deployments,
        )

    @cached_property
    def monitor_store(self) -> SqlMonitorStore:
        """Stored metric points and alerts: what pages read (never the prediction log)."""
        from shipyard.registry.sql.monitoring import SqlMonitorStore

        return SqlMonitorStore(self.store)

    @cached_property
    def _deployment_store(self) -> SqlDeploymentStore:
        from shipyard.registry.sql.deployments import SqlDeploymentStore

        return SqlDeploymentStore(self.store)

    @cached_property
    def deployments(self) -> DeploymentService:
        from shipyard.registry.deployment_service import DeploymentService

        return DeploymentService(self._deployment_store, self.registry)

    @cached_property
    def rollouts(self) -> RolloutService:
        from shipyard.lifecycle.service import RolloutService

        return RolloutService(
            self.registry,
            self.deployments,
            self._deployment_store,
            self.logs,
            governance=self.governance,
        )

    @cached_property
    def governance(self) -> GovernanceService:
        from shipyard.registry.governance import GovernanceService
        from shipyard.registry.sql.governance import SqlGovernanceStore

        return GovernanceService(SqlGovernanceStore(self.store), self.registry)

    @cached_property
    def leases(self) -> LeaseStore:
        from shipyard.registry.sql.leases import SqlLeaseStore

        return SqlLeaseStore(self.store)

    @cached_property
    def tokens(self) -> TokenService:
        from shipyard.registry.sql.tokens import SqlTokenStore
        from shipyard.registry.tokens import TokenService

        return TokenService(SqlTokenStore(self.store))

    def close(self) -> None:
        if "logs" in self.__dict__:  # a reader never opened is not started to be closed
            self.logs.close()
        self.store.close()

    def project(self) -> Project | None:
        from shipyard.lifecycle.project import load as load_project

        path = self.settings.project
        return load_project(path) if path is not None else None

    def closed_loop(self, project: Project) -> ClosedLoop:
        from shipyard.lifecycle.loop import ClosedLoop
        from shipyard.lifecycle.retraining import Retrainer

        return ClosedLoop(
            project,
            registry=self.registry,
            rollouts=self.rollouts,
            retrainer=Retrainer(self.registry, self.logs),
            monitor_store=self.monitoring.store,
            alerts=self.monitoring.alerts,
        )

    def controller(self, *, tick: float = 0.5, lease_ttl: float | None = None) -> Controller:
        """A controller over this registry (not started), with the project's monitors and policies.

        The lease lasts 15 s, or ten ticks when ticks are longer than 1.5 s; a heartbeat renews it
        during a slow tick.
        """
        from shipyard.lifecycle.controller import DEFAULT_LEASE_TTL_S, Controller
        from shipyard.monitoring.notifiers.base import create_notifier
        from shipyard.monitoring.scheduler import MonitorScheduler, Schedule

        project = self.project()
        if project is not None:  # the project's notifiers join the ones from the settings
            for notifier in project.notifiers:
                self.monitoring.alerts.notifiers.append(
                    create_notifier(notifier.kind, dict(notifier.model_extra or {}))
                )
        schedules = (
            [Schedule(endpoint, m.every, m.config()) for endpoint, m in project.monitors.items()]
            if project is not None
            else []
        )
        self.monitoring.alerts.deliver_in_background()  # a hanging webhook never stalls a tick
        return Controller(
            self.rollouts,
            self.leases,
            monitors=MonitorScheduler(self.monitoring, schedules),
            loop=self.closed_loop(project) if project is not None and project.policies else None,
            maintenance=self.log_maintenance(project),
            tick=tick,
            lease_ttl=lease_ttl if lease_ttl is not None else max(DEFAULT_LEASE_TTL_S, 10 * tick),
        )

    def batch_scoring(self) -> BatchScoring:
        """Batch scoring over this registry; workers (Ray actors) load models from the settings."""
        from shipyard.serving.scoring import BatchScoring

        return BatchScoring(
            self.registry,
            partial(load_for_worker, self.settings),
            logs_uri=self.settings.resolved_logs_uri(),
            log_storage_options=self.settings.storage_options_for(
                self.settings.resolved_logs_uri()
            ),
            file_options=self.settings.storage_options_for,
        )

    def log_maintenance(self, project: Project | None = None) -> LogMaintenance:
        """Compaction and retention of the prediction log, with the configured retention."""
        from shipyard.telemetry.maintenance import LogMaintenance

        return LogMaintenance(
            self.settings.resolved_logs_uri(),
            retention=log_retention(self.settings),
            storage_options=self.settings.storage_options_for(self.settings.resolved_logs_uri()),
            per_endpoint=project.retention_periods() if project is not None else None,
        )

    def garbage_collector(self) -> GarbageCollector:
        """Collects unreferenced blobs, crashed writes' leftovers (artifacts and log) and cache."""
        from shipyard.registry.blobs import FsspecBlobStore
        from shipyard.registry.gc import GarbageCollector

        assert isinstance(self.registry.blobs, FsspecBlobStore)
        return GarbageCollector(
            self.registry, self.registry.blobs, temp_roots=[self.settings.resolved_logs_uri()]
        )

    def feedback_log(self, flush: Callable[[], object]) -> FeedbackLog:
        """The feedback log of a server: ``flush`` publishes predictions still queued in memory."""
        return _feedback_log(self.settings, self.logs, self.registry, flush)

    def log_writer(self) -> SegmentWriter:
        """A started prediction-log writer (for servers); the caller closes it."""
        from shipyard.telemetry.writer import SegmentWriter

        s = self.settings
        return SegmentWriter(
            s.resolved_logs_uri(),
            flush_interval=s.log_flush_interval,
            max_queue_rows=s.log_queue_rows,
            storage_options=s.storage_options_for(s.resolved_logs_uri()),
        ).start()


def log_retention(settings: Settings) -> dt.timedelta:
    """``SHIPYARD_LOG_RETENTION`` as a duration (a clear error names the setting)."""
    return parse_duration(settings.log_retention, "SHIPYARD_LOG_RETENTION")


_WORKER_MODELS: dict[str, LoadedVersion] = {}


def load_for_worker(settings: Settings, ref: str) -> LoadedVersion:
    """An exact version, loaded and warmed once per process (batch and serving workers)."""
    from shipyard.serving.runtime import LoadedVersion

    loaded = _WORKER_MODELS.get(ref)
    if loaded is None:
        services = build(settings)
        try:
            version = services.registry.resolve(ref)
            loaded = LoadedVersion(version, services.registry.load_version(version), 0.0)
        finally:
            services.close()
        loaded.warm()
        _WORKER_MODELS[ref] = loaded
    return loaded


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        home = settings.home
        if home.exists() and not home.is_dir():
            raise InvalidArgument(
                f"home {home} is a file; expected a directory (--home, SHIPYARD_HOME)"
            )
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidArgument(
                f"cannot create the home {home}: {exc.strerror or exc} (--home, SHIPYARD_HOME)"
            ) from None
    return settings.resolved_database_url()


@contextmanager
def _naming_database_url(settings: Settings) -> Iterator[None]:
    """A malformed database URL names the setting it came from."""
    try:
        yield
    except InvalidArgument as exc:
        if settings.database_url is None:
            raise
        raise InvalidArgument(f"SHIPYARD_DATABASE_URL: {exc}") from None


def open_engine(settings: Settings) -> Engine:
    """An engine on the registry database, without touching its schema (for ``shipyard db``)."""
    from shipyard.registry.sql.store import make_engine

    url = _database_url(settings)
    with _naming_database_url(settings):
        return make_engine(url)


def _feedback_log(
    settings: Settings,
    logs: LogReader,
    registry: RegistryService,
    flush: Callable[[], object] | None = None,
) -> FeedbackLog:
    from shipyard.telemetry.feedback import FeedbackLog

    return FeedbackLog(
        settings.resolved_logs_uri(),
        logs,
        storage_options=settings.storage_options_for(settings.resolved_logs_uri()),
        label_rule=registry.label_rule,
        audit=lambda action, target, details, actor: registry.record(
            action, target, details, actor=actor
        ),
        flush=flush,
    )


def build(settings: Settings | None = None, *, actor: str | None = None) -> Services:
    """The services over the configured registry, each built on first use. ``actor`` is the
    verified principal recorded for changes that do not name one (default: the OS user, who has
    direct database access)."""
    from shipyard.registry.access import os_user
    from shipyard.registry.sql.store import SqlRegistryStore

    settings = settings or load_settings()
    url = _database_url(settings)
    with _naming_database_url(settings):
        store = SqlRegistryStore(url)
    return Services(settings, store, actor=actor or os_user())
