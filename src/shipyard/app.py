"""Composition root: builds the services from ``Settings``. The only place that wires things."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from shipyard.core.config import Settings, load_settings
from shipyard.core.durations import parse_duration
from shipyard.core.errors import InvalidArgument
from shipyard.lifecycle.controller import DEFAULT_LEASE_TTL_S, Controller
from shipyard.lifecycle.loop import ClosedLoop
from shipyard.lifecycle.project import Project
from shipyard.lifecycle.project import load as load_project
from shipyard.lifecycle.retraining import Retrainer
from shipyard.lifecycle.service import RolloutService
from shipyard.monitoring.alerts import AlertManager
from shipyard.monitoring.monitor import MonitorService
from shipyard.monitoring.notifiers.base import create_notifier
from shipyard.monitoring.scheduler import MonitorScheduler, Schedule
from shipyard.registry.access import os_user
from shipyard.registry.blobs import FsspecBlobStore
from shipyard.registry.deployment_service import DeploymentService
from shipyard.registry.gc import GarbageCollector
from shipyard.registry.governance import GovernanceService
from shipyard.registry.leases import LeaseStore
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.deployments import SqlDeploymentStore
from shipyard.registry.sql.governance import SqlGovernanceStore
from shipyard.registry.sql.leases import SqlLeaseStore
from shipyard.registry.sql.monitoring import SqlMonitorStore
from shipyard.registry.sql.store import SqlRegistryStore, make_engine
from shipyard.registry.sql.tokens import SqlTokenStore
from shipyard.registry.tokens import TokenService
from shipyard.serving.runtime import LoadedVersion
from shipyard.serving.scoring import BatchScoring
from shipyard.telemetry.feedback import FeedbackLog
from shipyard.telemetry.maintenance import LogMaintenance
from shipyard.telemetry.reader import LogReader
from shipyard.telemetry.writer import SegmentWriter


@dataclass
class Services:
    settings: Settings
    registry: RegistryService
    logs: LogReader
    feedback: FeedbackLog
    monitoring: MonitorService
    deployments: DeploymentService
    rollouts: RolloutService
    governance: GovernanceService
    leases: LeaseStore
    tokens: TokenService

    def close(self) -> None:
        self.logs.close()
        self.registry.store.close()

    def project(self) -> Project | None:
        path = self.settings.project
        return load_project(path) if path is not None else None

    def closed_loop(self, project: Project) -> ClosedLoop:
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
        return BatchScoring(
            self.registry,
            functools.partial(load_for_worker, self.settings),
            logs_uri=self.settings.resolved_logs_uri(),
            log_storage_options=self.settings.storage_options_for(
                self.settings.resolved_logs_uri()
            ),
            file_options=self.settings.storage_options_for,
        )

    def log_maintenance(self, project: Project | None = None) -> LogMaintenance:
        """Compaction and retention of the prediction log, with the configured retention."""
        return LogMaintenance(
            self.settings.resolved_logs_uri(),
            retention=log_retention(self.settings),
            storage_options=self.settings.storage_options_for(self.settings.resolved_logs_uri()),
            per_endpoint=project.retention_periods() if project is not None else None,
        )

    def garbage_collector(self) -> GarbageCollector:
        """Collects unreferenced blobs, crashed writes' leftovers (artifacts and log) and cache."""
        assert isinstance(self.registry.blobs, FsspecBlobStore)
        return GarbageCollector(
            self.registry, self.registry.blobs, temp_roots=[self.settings.resolved_logs_uri()]
        )

    def feedback_log(self, flush: Callable[[], object]) -> FeedbackLog:
        """The feedback log of a server: ``flush`` publishes predictions still queued in memory."""
        return _feedback_log(self.settings, self.logs, self.registry, flush)

    def log_writer(self) -> SegmentWriter:
        """A started prediction-log writer (for servers); the caller closes it."""
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
    url = _database_url(settings)
    with _naming_database_url(settings):
        return make_engine(url)


def _feedback_log(
    settings: Settings,
    logs: LogReader,
    registry: RegistryService,
    flush: Callable[[], object] | None = None,
) -> FeedbackLog:
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
    """The services over the configured registry. ``actor`` is the verified principal recorded for
    changes that do not name one (default: the OS user, who has direct database access)."""
    settings = settings or load_settings()
    url = _database_url(settings)
    with _naming_database_url(settings):
        store = SqlRegistryStore(url)
    artifacts = settings.resolved_artifacts_uri()
    blobs = FsspecBlobStore(artifacts, **settings.storage_options_for(artifacts))
    registry = RegistryService(
        store,
        blobs,
        cache_dir=settings.cache_dir,
        actor=actor or os_user(),
        allow_pickle=settings.allow_pickle,
        allow_code=settings.allow_code,
    )
    logs_uri = settings.resolved_logs_uri()
    log_options = settings.storage_options_for(logs_uri)
    logs = LogReader(logs_uri, log_options)
    notifiers = [create_notifier("log", {})]
    if settings.alert_webhook_url:
        notifiers.append(
            create_notifier(
                "webhook",
                {"url": settings.alert_webhook_url, "secret": settings.alert_webhook_secret},
            )
        )
    monitor_store = SqlMonitorStore(store)
    deployment_store = SqlDeploymentStore(store)
    deployments = DeploymentService(deployment_store, registry)
    governance = GovernanceService(SqlGovernanceStore(store), registry)
    monitoring = MonitorService(
        registry, logs, monitor_store, AlertManager(monitor_store, notifiers), deployments
    )
    return Services(
        settings=settings,
        registry=registry,
        logs=logs,
        feedback=_feedback_log(settings, logs, registry),
        monitoring=monitoring,
        deployments=deployments,
        rollouts=RolloutService(
            registry, deployments, deployment_store, logs, governance=governance
        ),
        governance=governance,
        leases=SqlLeaseStore(store),
        tokens=TokenService(SqlTokenStore(store)),
    )
