"""Settings, read once at the edge (CLI, HTTP app, SDK entry points) and passed down.

Every setting can be given as an environment variable with the ``SHIPYARD_`` prefix, e.g.
``SHIPYARD_HOME=/srv/shipyard``. No module below ``interfaces/`` reads the environment.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user database entry (containers): still need a name
        return "unknown"


class Settings(BaseSettings):
    """Shipyard configuration."""

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", extra="ignore", frozen=True)

    home: Path = Field(default=Path(".shipyard"))
    """Directory of the embedded default: registry.db, artifacts/, logs/, cache/."""

    database_url: str | None = None
    """SQLAlchemy URL of the registry database; default ``sqlite:///{home}/registry.db``.
    PostgreSQL: ``postgresql+psycopg://user@host:5432/db``."""

    artifacts_uri: str | None = None
    """Where package files are stored (any fsspec URL); default ``{home}/artifacts``."""

    logs_uri: str | None = None
    """Where prediction and feedback segments go (any fsspec URL); default ``{home}/logs``."""

    log_flush_interval: float = Field(default=1.0, gt=0, le=60)
    """Seconds between prediction-log flushes: a killed server loses at most this much."""

    log_queue_rows: int = Field(default=200_000, ge=1)
    """Prediction-log rows held in memory; beyond that records are dropped (and counted)."""

    log_retention: str = "30d"
    """How long the prediction log keeps predictions and labels (a duration: ``30d``, ``12h``);
    per endpoint in ``shipyard.yaml`` (``retention:``). Deleted by whole days, by the controller."""

    alert_webhook_url: str | None = None
    """Deliver alerts to this URL as signed JSON (Slack-compatible ``text`` field)."""

    alert_webhook_secret: str | None = None
    """Shared secret for the ``X-Shipyard-Signature`` HMAC-SHA256 header of alert webhooks."""

    project: Path | None = None
    """A ``shipyard.yaml`` project file: the controller runs its monitors and policies."""

    actor: str = Field(default_factory=_default_actor)
    """Name recorded in the audit log for changes made by this process."""

    allow_pickle: bool = False
    """Allow loading pickle-based packages. Off because unpickling can execute arbitrary code."""

    allow_code: bool = False
    """Allow loading packages that run their own Python code (the python flavor) without a
    recorded ``shipyard trust``. Off because that code runs with the loader's rights."""

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'registry.db').resolve()}"

    def resolved_artifacts_uri(self) -> str:
        return self.artifacts_uri or str((self.home / "artifacts").resolve())

    def resolved_logs_uri(self) -> str:
        return self.logs_uri or str((self.home / "logs").resolve())

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"
