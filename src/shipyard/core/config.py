"""Settings, read once at the edge (CLI, HTTP app, SDK entry points) and passed down.

Every setting can be given as an environment variable with the ``SHIPYARD_`` prefix, e.g.
``SHIPYARD_HOME=/srv/shipyard``. No module below ``interfaces/`` reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shipyard.core.durations import Seconds
from shipyard.core.errors import InvalidArgument

ENV_PREFIX = "SHIPYARD_"
MAX_LOG_FLUSH_INTERVAL_S = 60.0


class Settings(BaseSettings):
    """Shipyard configuration."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    home: Path = Field(default=Path(".shipyard"))
    """Directory of the embedded default: registry.db, artifacts/, logs/, cache/."""

    database_url: str | None = None
    """SQLAlchemy URL of the registry database; default ``sqlite:///{home}/registry.db``.
    PostgreSQL: ``postgresql+psycopg://user@host:5432/db``."""

    artifacts_uri: str | None = None
    """Where package files are stored (any fsspec URL); default ``{home}/artifacts``."""

    logs_uri: str | None = None
    """Where prediction and feedback segments go (any fsspec URL); default ``{home}/logs``."""

    s3_endpoint_url: str | None = None
    """S3-compatible endpoint for ``s3://`` artifacts, logs and batch files (MinIO, Ceph, moto);
    default: AWS."""

    s3_region: str | None = None
    """Region of the S3 endpoint."""

    s3_access_key_id: str | None = None
    """Access key for ``s3://`` URLs; default: the AWS credential chain (env, profile, role)."""

    s3_secret_access_key: SecretStr | None = None
    """Secret key going with ``SHIPYARD_S3_ACCESS_KEY_ID``."""

    s3_profile: str | None = None
    """A named profile of the AWS config files, instead of keys."""

    storage_options: dict[str, Any] = Field(default_factory=dict)
    """Extra fsspec options for every artifact, log and batch URL, as JSON
    (``{"s3": {"anon": true}}`` per protocol, or flat for all of them)."""

    log_flush_interval: Seconds = 1.0
    """Time between prediction-log flushes (``500ms``, ``2s``, or seconds): a killed server loses
    at most this much."""

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

    url: str | None = None
    """A Shipyard server (``http://host:8000``): CLI registry commands and the SDK go through its
    management API instead of opening the database."""

    token: str | None = None
    """The bearer token sent to ``url`` (``shipyard tokens create``); it names who acts."""

    allow_pickle: bool = False
    """Allow loading pickle-based packages. Off because unpickling can execute arbitrary code."""

    @field_validator("log_flush_interval")
    @classmethod
    def _flush_at_least_every_minute(cls, value: float) -> float:
        if value > MAX_LOG_FLUSH_INTERVAL_S:
            raise ValueError(f"must be at most {MAX_LOG_FLUSH_INTERVAL_S:g}s, got {value:g}s")
        return value

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

    def storage_options_for(self, url: str) -> dict[str, Any]:
        """fsspec options for ``url``: the S3 settings on ``s3://`` URLs, plus ``storage_options``."""
        protocol = url.split("://", 1)[0] if "://" in url else "file"
        options: dict[str, Any] = {}
        if protocol in ("s3", "s3a"):
            if self.s3_endpoint_url:
                options["endpoint_url"] = self.s3_endpoint_url
            if self.s3_region:
                options["client_kwargs"] = {"region_name": self.s3_region}
            if self.s3_access_key_id:
                options["key"] = self.s3_access_key_id
            if self.s3_secret_access_key is not None:
                options["secret"] = self.s3_secret_access_key.get_secret_value()
            if self.s3_profile:
                options["profile"] = self.s3_profile
        extra = self.storage_options
        if protocol in extra and isinstance(extra[protocol], dict):
            options.update(extra[protocol])
        elif extra and all(not isinstance(v, dict) for v in extra.values()):
            options.update(extra)
        return options

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"


def load_settings(**overrides: Any) -> Settings:
    """``Settings`` from the environment and ``overrides``; a bad value is one ``InvalidArgument``
    naming the variable (``SHIPYARD_LOG_FLUSH_INTERVAL``) or the override, and what was expected."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]) if err["loc"] else "settings"
        where = (
            f"--{name.replace('_', '-')}" if name in overrides else f"{ENV_PREFIX}{name.upper()}"
        )
        value = err.get("input")
        shown = f"={value!r}" if isinstance(value, str | int | float) else ""
        message = " ".join(str(err["msg"]).removeprefix("Value error, ").split())
        raise InvalidArgument(f"{where}{shown}: {message}") from None
