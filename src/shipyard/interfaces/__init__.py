"""Interfaces: thin adapters (SDK, CLI, HTTP, UI) over the services built in ``shipyard.app``."""
