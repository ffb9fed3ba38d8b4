"""``shipyard`` lists its commands from one table and builds each on first use: the table must say
what each command says of itself, and using a command must give the real one."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main

from shipyard.interfaces.cli.lazy import LazyGroup, Unloaded
from shipyard.interfaces.cli.main import COMMANDS, app
from tests.interfaces.conftest import Cli


def _group() -> LazyGroup:
    group = typer.main.get_command(app)
    assert isinstance(group, LazyGroup)
    return group


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_each_listed_line_is_the_commands_own_help(name: str) -> None:
    real = _group().load(name)
    assert real.name == name
    assert not isinstance(real, Unloaded)
    assert COMMANDS[name].help == _first_paragraph(real.short_help or real.help)


def test_listing_builds_nothing_and_running_builds_one(cli: Cli) -> None:
    group = _group()
    assert all(isinstance(c, Unloaded) for c in group.commands.values())
    names = [c.name for c in group.commands.values()]
    assert names == list(COMMANDS)  # the order of `shipyard --help`

    code, out, _ = cli("--help")
    assert code == 0 and all(name in out for name in COMMANDS)

    assert group.main(["alias", "show", "--help"], prog_name="shipyard", standalone_mode=False) == 0
    assert isinstance(group.commands["alias"], typer.core.TyperGroup)  # built when used
    assert isinstance(group.commands["models"], Unloaded)  # and nothing else


def test_a_placeholder_runs_the_real_command(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("--home", str(tmp_path / "home"), "alias", "show", "m", "champion")
    assert code == 3 and "model 'm' does not exist" in err  # ran alias show, not a placeholder
    code, out, _ = cli("--home", str(tmp_path / "home"), "models", "list", "--json")
    assert code == 0 and out.strip() == "[]"
    code, _, err = cli("alis")
    assert code == 2 and "Did you mean 'alias'" in err  # suggestions know unloaded commands
