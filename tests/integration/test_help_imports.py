"""`orch --help` and a command's --help import none of the heavy libraries (numpy, scipy,
matplotlib, SQLAlchemy, ...): it took 1.4-1.7 s (issue 18, item 13); the speed itself is a
benchmark figure in docs/commands.md, not a timed test. The command list comes from cli.COMMANDS, so
it must say what each command says of itself."""

from __future__ import annotations

import subprocess
import sys

import pytest
from orchestrator import cli

HEAVY = ("numpy", "scipy", "matplotlib", "sqlalchemy", "opencc", "jiwer", "ruptures", "cn2an")


# every command's --help (the command modules import their studies when they run)
@pytest.mark.parametrize("argv", [[], ["--help"]] + [[name, "--help"] for name in sorted(cli.COMMANDS)])
def test_help_imports_nothing_heavy(argv, tmp_path):
    code = (
        "import sys\n"
        "import orchestrator.cli\n"
        f"try:\n    orchestrator.cli.main({argv!r})\nexcept SystemExit:\n    pass\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert proc.stderr.splitlines()[-1:] == [""], proc.stderr


def test_the_command_list_says_what_each_command_says_of_itself():
    for name, (target, short) in cli.COMMANDS.items():
        command = cli.LazyGroup().get_command(None, name)
        assert command is not None, target
        assert command.get_short_help_str(limit=10**6) == short, name
