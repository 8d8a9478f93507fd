"""`orch load --engines` and a level's floor through real processes, briefly: the calibration
engine named twice runs twice (one study each, each its own folder and load.json), one table
with a row per engine, the `engines` section of --json, and every request of every engine
accounted for (sent = ok + failed + timed out + dropped + cancelled, each written once). A
level under --min-requests/--min-duration ends with at least that many requests completed
and at least that many seconds (floors: they hold on a busy host). docs/load.md's `--engines`
example runs as written."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "load.md"
MARKER = "<!-- example: tested-by tests/integration/test_load_engines_study.py -->"


def orch(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=600
    )


def _accounted(load_json: Path) -> int:
    """Every level of the run accounts for every request it sent, each written once; the
    requests completed in its levels."""
    run = json.loads(load_json.read_text())
    records = [json.loads(line) for line in (load_json.parent / "requests.jsonl").read_text().splitlines()]
    assert len({r["i"] for r in records}) == len(records)  # each written once
    completed = 0
    for level in run["levels"]:
        counts = [level[k] for k in ("ok", "failed", "timed_out", "dropped", "cancelled")]
        assert level["accounted"] and level["sent"] == sum(counts)
        mine = [r for r in records if r["level"] == level["level"] and not r["warmup"]]
        assert len(mine) == level["sent"]
        completed += level["ok"] + level["failed"] + level["timed_out"]
    return completed


@pytest.mark.slow
def test_two_engines_one_row_each_every_request_accounted_for(tmp_path):
    proc = orch(
        "load", "--engines", "calibration,calibration", "--concurrency", "2", "--workers", "2",
        "--min-requests", "6", "--ttft-ms", "5", "--token-ms", "1", "--slo", "latency_ms=2000",
        "--no-history", "--out", "out", "--json", "e.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    table = proc.stdout[proc.stdout.index("engine ") :].splitlines()
    assert [line.split()[0] for line in table[2:4]] == ["calibration", "calibration-2"]
    summary = json.loads((tmp_path / "e.json").read_text())
    assert [e["label"] for e in summary["engines"]] == ["calibration", "calibration-2"]
    (run_dir,) = (tmp_path / "out").glob("load-*")
    assert json.loads((run_dir / "engines.json").read_text()) == summary
    for entry in summary["engines"]:
        assert entry["accounted"] and entry["status"] == "ok" and entry["error"] is None
        load_json = run_dir / entry["label"] / "load.json"
        assert _accounted(load_json) >= 6  # the floor: at least --min-requests completed
        assert json.loads(load_json.read_text())["plan"]["min_requests"] == 6


@pytest.mark.slow
def test_a_level_runs_until_both_floors_are_met(tmp_path):
    proc = orch(
        "load", "--rate", "20", "--min-requests", "5", "--min-duration", "1.5", "--ttft-ms", "5",
        "--token-ms", "1", "--no-history", "--no-check-outputs", "--json", "r.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (level,) = json.loads((tmp_path / "r.json").read_text())["levels"]
    assert level["floor"]["met"] and level["floor"]["why"] is None
    assert level["ok"] >= 5 and level["duration_s"] >= 1.5  # both floors, whatever the host's speed
    assert level["sent"] == level["ok"]


def doc_example() -> list[list[str]]:
    """The orch lines of docs/load.md's block under this test's marker (continuations joined)."""
    text = DOC.read_text(encoding="utf-8")
    body = text[text.index(MARKER) :].split("```sh\n", 1)[1].split("```", 1)[0]
    lines = body.replace("\\\n", " ").splitlines()
    return [shlex.split(line)[1:] for line in lines if line.startswith("orch ")]


@pytest.mark.slow
def test_the_doc_example_runs_as_written(tmp_path):
    (argv,) = doc_example()
    assert argv[:2] == ["load", "--engines"]
    proc = orch(*argv, "--no-history", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    engines = json.loads((tmp_path / "engines.json").read_text())["engines"]
    assert [e["label"] for e in engines] == ["calibration", "calibration-2"]
    assert all(e["accounted"] and e["sent"] >= 16 for e in engines)  # two levels of at least 8 each
    assert all(e["confidence"].startswith("not supported") for e in engines)  # 8 < the 44 the claim needs
