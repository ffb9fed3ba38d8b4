"""Composition root: builds the services from ``Settings``. The only place that wires things."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from shipyard.core.config import Settings
from shipyard.registry.blobs import FsspecBlobStore
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.store import SqlRegistryStore, make_engine


@dataclass
class Services:
    settings: Settings
    registry: RegistryService

    def close(self) -> None:
        self.registry.store.close()


def _database_url(settings: Settings) -> str:
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    return settings.resolved_database_url()


def open_engine(settings: Settings) -> Engine:
    """An engine on the registry database, without touching its schema (for ``shipyard db``)."""
    return make_engine(_database_url(settings))


def build(settings: Settings | None = None) -> Services:
    settings = settings or Settings()
    store = SqlRegistryStore(_database_url(settings))
    blobs = FsspecBlobStore(settings.resolved_artifacts_uri())
    registry = RegistryService(
        store,
        blobs,
        cache_dir=settings.cache_dir,
        actor=settings.actor,
        allow_pickle=settings.allow_pickle,
    )
    return Services(settings=settings, registry=registry)
