"""docs/exit-codes.md's table is orchestrator.errors.ExitCode: the same numbers, names and
meanings, in the same order."""

from __future__ import annotations

import re
from pathlib import Path

from orchestrator.errors import ExitCode

TABLE = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def _page_rows() -> list[tuple[int, str, str]]:
    text = TABLE.read_text(encoding="utf-8")
    section = text.split("# Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+) \|$", section, flags=re.M)
    return [(int(code), name, meaning) for code, name, meaning in rows]


def test_the_pages_table_is_the_enum():
    rows = _page_rows()
    assert [(code, name) for code, name, _ in rows] == [(m.value, m.name) for m in ExitCode]
    assert [code for code, _, _ in rows] == [0, 1, 2, 3, 129, 130, 143]


def test_each_meaning_names_what_the_enum_says():
    meanings = {name: meaning.replace("`", "") for _, name, meaning in _page_rows()}
    assert meanings["FAILED"].startswith("something ran and failed: a strategy crashed, timed out")
    assert "soak" in meanings["FAILED"] and "run" in meanings["FAILED"]  # a failed strategy: 1 in both
    assert "soak found a regression" in meanings["REGRESSED"] and "ab a regression" in meanings["REGRESSED"]
    assert meanings["CANNOT_START"].startswith("could not start, nothing ran")
    assert meanings["INTERRUPTED"].startswith("Ctrl-C")
    assert meanings["TERMINATED"].startswith("SIGTERM") and meanings["HANGUP"].startswith("SIGHUP")


def test_every_command_exits_through_the_enum():
    """No command module exits with a bare number (sys.exit(1), ctx.exit(2))."""
    root = Path(__file__).resolve().parents[2] / "orchestrator"
    bare = []
    for path in root.rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.search(r"\b(sys\.exit|\.exit)\(\s*\d", line):
                bare.append(f"{path.relative_to(root)}:{n}: {line.strip()}")
    assert bare == []
