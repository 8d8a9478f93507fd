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


def kept_examples() -> list[list[str]]:
    block = DOC.read_text(encoding="utf-8").split("## Kept:", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("  #", 1)[0]) for line in block.splitlines() if line.startswith("orch ")]


def test_the_kept_section_runs_as_written(isolated):
    """Two load runs stored, their levels listed, a page drawn, and the A/B that exits 3."""
    runs = kept_examples()
    assert [a[1] for a in runs] == ["load", "load", "history", "report", "ab"]
    codes = []
    outputs = []
    for argv in runs:
        done = CliRunner().invoke(main, argv[1:])
        codes.append(done.exit_code)
        outputs.append(done.output)
    assert codes == [0, 0, 0, 0, 3], outputs
    levels = [line for line in outputs[2].splitlines() if re.search(r"\d/s poisson", line)]
    assert len(levels) == 4
    assert (isolated / "load.html").read_text().count("data:image/png;base64,") == 3
    assert "verdict: regressed" in outputs[4]
    # B's every request takes over 300 ms against a 200 ms SLO: it sustains no rate (A's depends on the host:
    # a level whose generator was late is invalid)
    assert re.search(r"max sustainable rate: A (\d+ req/s|none), B none", outputs[4]), outputs[4]
