"""Plugin plumbing on pluggy: one project name, one pair of markers, one manager per hook set.

Each layer declares its hooks (``package.flavors.hooks`` for flavors, later stat tests, notifiers...)
and gets a manager from ``plugin_manager``: the layer's built-ins are registered through the very same
hooks as third-party plugins, which are found through the ``shipyard`` entry-point group.

A third-party plugin module::

    from shipyard import hookimpl

    @hookimpl
    def shipyard_flavors():
        return [MyFlavor()]
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

PROJECT = "shipyard"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


def plugin_manager(specs: type, builtins: Iterable[object]) -> pluggy.PluginManager:
    """A manager for one hook set, with the built-in plugins and the installed ones registered."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(specs)
    for plugin in builtins:
        pm.register(plugin)
    pm.load_setuptools_entrypoints(PROJECT)
    return pm
