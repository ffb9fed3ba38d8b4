"""Per-invocation state: the settings from the root options, and the services built on demand."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from shipyard.app import Services
    from shipyard.core.config import Settings


@dataclass
class CliState:
    overrides: dict[str, Any] = field(default_factory=dict)
    _services: Services | None = None

    def settings(self) -> Settings:
        from shipyard.core.config import load_settings

        return load_settings(**self.overrides)

    def services(self) -> Services:
        if self._services is None:
            from shipyard.app import build

            self._services = build(self.settings())
        return self._services

    def close(self) -> None:
        if self._services is not None:
            self._services.close()


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def services(ctx: typer.Context) -> Services:
    return state(ctx).services()


def set_overrides(ctx: typer.Context, home: Path | None, actor: str | None) -> None:
    st = state(ctx)
    if home is not None:
        st.overrides["home"] = home
    if actor is not None:
        st.overrides["actor"] = actor
