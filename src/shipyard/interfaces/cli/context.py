"""Per-invocation state: the settings from the root options, and the services built on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from shipyard.app import Services
    from shipyard.core.config import Settings
    from shipyard.interfaces.remote import RemoteRegistry


@dataclass
class CliState:
    overrides: dict[str, Any] = field(default_factory=dict)
    _services: Services | None = None
    _remote: RemoteRegistry | None = None

    def settings(self) -> Settings:
        from shipyard.core.config import load_settings

        return load_settings(**self.overrides)

    def services(self) -> Services:
        if self._services is None:
            from shipyard.app import build

            self._services = build(self.settings())
        return self._services

    def remote(self) -> RemoteRegistry | None:
        """The server's management API when ``--url``/``SHIPYARD_URL`` is set, else None."""
        if self._remote is None:
            settings = self.settings()
            if settings.url is None:
                return None
            from shipyard.interfaces.remote import RemoteRegistry

            self._remote = RemoteRegistry(settings.url, token=settings.token)
        return self._remote

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
        if self._remote is not None:
            self._remote.close()


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def services(ctx: typer.Context) -> Services:
    return state(ctx).services()


def remote(ctx: typer.Context) -> RemoteRegistry | None:
    return state(ctx).remote()


def set_overrides(
    ctx: typer.Context, home: Path | None, url: str | None = None, token: str | None = None
) -> None:
    st = state(ctx)
    for key, value in (("home", home), ("url", url), ("token", token)):
        if value is not None:
            st.overrides[key] = value
