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


@pytest.mark.parametrize(
    "argv", [a for a in examples() if "chatllm" not in a and "--url" not in a], ids=lambda a: " ".join(a[2:6])
)
def test_calibration_example_runs(argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, argv[1:] + ["--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if ROW.match(line)]
    assert len(rows) == _levels(argv), result.output
    if "--json" in argv:
        data = json.loads((tmp_path / "r.json").read_text())
        assert [lv["accounted"] for lv in data["levels"]] == [True] * 3
        assert [lv["sent"] for lv in data["levels"]] == [40] * 3


def test_url_example_runs(tmp_path, monkeypatch):
    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED}")
    (argv,) = [a for a in examples() if "--url" in a]
    (printf,) = [line for line in block().splitlines() if line.startswith("printf")]
    subprocess.run(printf.replace("../shared", str(SHARED)), shell=True, cwd=tmp_path, check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    argv = [a.replace("8765", port).replace("tests/asr_server/", f"{REPO}/tests/asr_server/") for a in argv]
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, argv[1:] + ["--out", str(tmp_path), "--json", "r.json"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if ROW.match(line)]
    assert len(rows) == _levels(argv) == 2, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert [(lv["accounted"], lv["sent"], lv["ok"], lv["streamed"]) for lv in data["levels"]] == [
        (True, 30, 30, 30)
    ] * 2
    assert data["plan"]["audio_weights"] == [3.0, 1.0]
