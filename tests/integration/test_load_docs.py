"""docs/load.md's examples run as written (exit 0, a table with one row per level, every
request accounted for): the calibration-engine ones in a scratch folder, the `--url` one with
the test server on a free port (its paths made absolute: the doc runs it from the checkout's
root); its chatllm.cpp example at least starts its checks."""

from __future__ import annotations

import json
import re
import shlex
import socket
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main

from conftest import REPO, SHARED

DOC = Path(__file__).resolve().parents[2] / "docs" / "load.md"
ROW = re.compile(r"^(\d+(\.\d+)?/s|concurrency|synchronous|throughput)")


def block() -> str:
    text = DOC.read_text(encoding="utf-8").split("## Examples", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return re.sub(r"\\\n\s*", " ", text)


def examples() -> list[list[str]]:
    return [shlex.split(line) for line in block().splitlines() if line.startswith("orch load")]


def test_the_doc_has_examples():
    assert len(examples()) == 6


def _levels(argv: list[str]) -> int:
    if "--sweep" in argv:
        return int(argv[argv.index("--sweep-levels") + 1])
    if "--rates" in argv:
        return len(argv[argv.index("--rates") + 1].split(","))
    return 1


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv", [a for a in examples() if "chatllm" not in a and "--url" not in a], ids=lambda a: " ".join(a[2:6])
)
def test_calibration_example_runs(argv, isolated):
    tmp_path = isolated
    result = CliRunner().invoke(main, argv[1:] + ["--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if ROW.match(line)]
    assert len(rows) == _levels(argv), result.output
    if "--json" in argv:
        data = json.loads((tmp_path / "r.json").read_text())
        assert [lv["accounted"] for lv in data["levels"]] == [True] * 3
        assert [lv["sent"] for lv in data["levels"]] == [40] * 3


@pytest.mark.slow
def test_url_example_runs(isolated):
    tmp_path = isolated
    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED}")
    (argv,) = [a for a in examples() if "--url" in a]
    (printf,) = [line for line in block().splitlines() if line.startswith("printf")]
    subprocess.run(printf.replace("../shared", str(SHARED)), shell=True, cwd=tmp_path, check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    argv = [a.replace("8765", port).replace("tests/asr_server/", f"{REPO}/tests/asr_server/") for a in argv]
    result = CliRunner().invoke(main, argv[1:] + ["--out", str(tmp_path), "--json", "r.json"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if ROW.match(line)]
    assert len(rows) == _levels(argv) == 2, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert [(lv["accounted"], lv["sent"], lv["ok"], lv["streamed"]) for lv in data["levels"]] == [
        (True, 30, 30, 30)
    ] * 2
    assert data["plan"]["audio_weights"] == [3.0, 1.0]


def kept_examples() -> list[list[str]]:
    block = DOC.read_text(encoding="utf-8").split("## Kept:", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    return [shlex.split(line.split("  #", 1)[0]) for line in block.splitlines() if line.startswith("orch ")]


@pytest.mark.slow
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
