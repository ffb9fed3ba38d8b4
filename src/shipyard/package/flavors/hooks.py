"""The flavor hook, and the registry of installed flavors built from it."""

from __future__ import annotations

from functools import cache

from shipyard.core.errors import InvalidArgument
from shipyard.core.plugins import hookspec, plugin_manager
from shipyard.package.flavors.base import Flavor


class FlavorHooks:
    @hookspec
    def shipyard_flavors(self) -> list[Flavor]:  # type: ignore[empty-body]
        """Return flavors to make available. Plugins registered later are asked first."""


@cache
def installed_flavors() -> tuple[Flavor, ...]:
    from shipyard.package.flavors import builtin

    pm = plugin_manager(FlavorHooks, [builtin])
    found: list[Flavor] = []
    for batch in pm.hook.shipyard_flavors():
        found.extend(batch)
    return tuple(found)


def flavor_named(name: str) -> Flavor:
    for flavor in installed_flavors():
        if flavor.name == name:
            return flavor
    known = ", ".join(sorted(f.name for f in installed_flavors()))
    raise InvalidArgument(f"unknown flavor {name!r}; installed flavors: {known}")


def flavor_for(model: object) -> Flavor:
    for flavor in installed_flavors():
        if flavor.accepts(model):
            return flavor
    known = ", ".join(sorted(f.name for f in installed_flavors()))
    raise InvalidArgument(
        f"no flavor knows how to save a {type(model).__module__}.{type(model).__qualname__}; "
        f"installed flavors: {known}. Pass flavor='python' for a class with a predict method."
    )
