"""Every command's --help is the same as the snapshot in tests/fixtures/help/: a refactor
(issue 19: engines declare their options once) must not change what a user reads. A
deliberate change re-generates the snapshots (`python tests/integration/test_help_snapshots.py`)
and says so in its commit message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from orchestrator import cli

SNAPSHOTS = Path(__file__).resolve().parents[1] / "fixtures" / "help"


def _commands() -> list[tuple[str, ...]]:
    """Every command and sub-command as argv prefixes: (), ("run",), ("history", "show"), ..."""
    found: list[tuple[str, ...]] = [()]
    for name in sorted(cli.COMMANDS):
        command = cli.LazyGroup().get_command(None, name)
        assert command is not None, name
        found.append((name,))
        if isinstance(command, click.Group):
            found += [(name, sub) for sub in sorted(command.commands)]
    return found


def _snapshot_name(argv: tuple[str, ...]) -> str:
    return "-".join(("orch",) + argv) + ".txt"


def _help(argv: tuple[str, ...]) -> str:
    # a fixed width: click wraps to the terminal's, CliRunner's is 80 unless COLUMNS says otherwise
    result = CliRunner().invoke(cli.main, [*argv, "--help"], prog_name="orch", terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def helps() -> dict[str, str]:
    """Every help text, from a fresh interpreter: click keeps a command's help option once
    made, so a test that ran the command without orch's group (no -h) would change it here."""
    proc = subprocess.run(
        [sys.executable, __file__, "--print"], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(proc.stdout)


@pytest.mark.parametrize("argv", _commands(), ids=lambda argv: " ".join(argv) or "orch")
def test_help_is_the_snapshot(argv, helps):
    snapshot = SNAPSHOTS / _snapshot_name(argv)
    assert snapshot.is_file(), f"no snapshot for {argv}: run python {__file__}"
    assert helps[_snapshot_name(argv)] == snapshot.read_text(encoding="utf-8")


def test_every_snapshot_is_a_command():
    assert sorted(p.name for p in SNAPSHOTS.glob("*.txt")) == sorted(_snapshot_name(a) for a in _commands())


if __name__ == "__main__" and sys.argv[1:] == ["--print"]:  # for the fixture
    print(json.dumps({_snapshot_name(argv): _help(argv) for argv in _commands()}))
elif __name__ == "__main__":  # re-generate (a deliberate change only)
    SNAPSHOTS.mkdir(parents=True, exist_ok=True)
    for argv in _commands():
        (SNAPSHOTS / _snapshot_name(argv)).write_text(_help(argv), encoding="utf-8")
    print(f"{len(_commands())} snapshots in {SNAPSHOTS}", file=sys.stderr)
