"""Composition root: builds the services from ``Settings``. The only place that wires things."""

from __future__ import annotations

from dataclasses import dataclass

from shipyard.core.config import Settings
from shipyard.registry.blobs import FsspecBlobStore
from shipyard.registry.service import RegistryService
from shipyard.registry.sql.store import SqlRegistryStore


@dataclass
class Services:
    settings: Settings
    registry: RegistryService

    def close(self) -> None:
        self.registry.store.close()


def build(settings: Settings | None = None) -> Services:
    settings = settings or Settings()
    url = settings.resolved_database_url()
    if url.startswith("sqlite") and settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    store = SqlRegistryStore(url)
    blobs = FsspecBlobStore(settings.resolved_artifacts_uri())
    registry = RegistryService(
        store,
        blobs,
        cache_dir=settings.cache_dir,
        actor=settings.actor,
        allow_pickle=settings.allow_pickle,
    )
    return Services(settings=settings, registry=registry)
