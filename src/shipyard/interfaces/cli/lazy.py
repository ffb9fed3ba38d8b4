"""Commands loaded on first use.

``shipyard alias set`` imports and builds the alias commands only; ``shipyard --help`` and shell
completion list every command from its one line, without importing or building any of them.
Building Typer's whole tree (about 100 commands, each signature inspected) and importing its
modules was a fifth of every start-up.

A command stands in a ``LazyGroup`` as an ``Unloaded`` placeholder until something makes a context
for it (running it, its ``--help``, completing its arguments): then its module is imported and the
placeholder is replaced by the real command.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class Lazy:
    """A command of a ``LazyGroup``: where it is, and its line in the group's help."""

    target: str
    """``module:attribute``: a ``typer.Typer`` (a group of commands) or a command function."""
    help: str
    """The first paragraph of the command's own help, on one line (a test checks they agree)."""

    def build(self, name: str) -> Any:
        module, _, attribute = self.target.partition(":")
        obj = getattr(importlib.import_module(module), attribute)
        if isinstance(obj, typer.Typer):
            group = typer.main.get_group(obj)
            group.name = name
            return group
        single = typer.Typer(add_completion=False)
        single.command(name)(obj)
        return typer.main.get_command(single)


class Unloaded(TyperCommand):
    """Stands for a command in listings (help, completion); making a context for it loads it."""

    def __init__(self, group: LazyGroup, name: str, entry: Lazy) -> None:
        super().__init__(name, help=entry.help)
        self.group = group

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        assert self.name is not None
        real = self.group.load(self.name)
        return real.make_context(info_name, args, parent=parent, **extra)


class LazyGroup(TyperGroup):
    """A group whose ``lazy_commands`` are imported and built only when used."""

    lazy_commands: ClassVar[Mapping[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, entry in self.lazy_commands.items():
            self.commands.setdefault(name, Unloaded(self, name, entry))

    def load(self, name: str) -> Any:
        """The real command ``name`` (imported and built on first call)."""
        command = self.commands[name]
        if isinstance(command, Unloaded):
            command = self.lazy_commands[name].build(name)
            self.commands[name] = command
        return command

    def load_all(self) -> dict[str, Any]:
        """Every command, built (for tests and tools that walk the whole tree)."""
        return {name: self.load(name) for name in list(self.commands)}
