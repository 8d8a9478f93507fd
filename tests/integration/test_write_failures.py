"""A full disk is not an orch bug (issue 27, item 2): when a result file cannot be written,
`orch run` and `orch load` stop, say in one line which file and what was kept, exit 1 with
no traceback, store the history row (the database is on another disk), and leave the JSONL
with whole lines only. The failure is injected (the sink's write takes half a line, then
ENOSPC; run.json's write refused) and, where a tmpfs can be mounted, real: a 2 MB
filesystem nearly full."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.history import store
from orchestrator.run.record_sink import Sink

from conftest import REPO

FAST = ["--ttft-ms", "1", "--token-ms", "0", "--warmup", "0"]


def _disk_fills_at(monkeypatch, at: int) -> None:
    """Every sink's `at`-th line: half of it reaches the disk, then ENOSPC."""
    real = Sink._write_all
    calls = {"n": 0}

    def write_all(self, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] < at:
            return real(self, data)
        self._file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Sink, "_write_all", write_all)


def _whole_lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), "a torn last line"
    return [json.loads(line) for line in data.splitlines()]


def _one_line(res) -> str:
    """The error line (notes and the progress lines `compare:` / `ab:` aside)."""
    lines = [line for line in res.stderr.splitlines() if not line.startswith(("note: ", "compare: ", "ab: "))]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.output and "internal error" not in res.stderr
    return lines[0]


def test_run_keeps_the_whole_records_and_stores_the_row(isolated, monkeypatch):
    _disk_fills_at(monkeypatch, 4)
    res = CliRunner().invoke(main, ["run", "--strategy", "recreate", "--iters", "50", *FAST, "--out", "out",
                                    "--db", "h.sqlite3"], prog_name="orch")  # fmt: skip
    assert res.exit_code == 1, res.output
    (jsonl,) = (isolated / "out").glob("*/recreate.jsonl")
    run_id = jsonl.parent.name
    assert _one_line(res) == (
        f"orch: cannot write out/{run_id}/recreate.jsonl: No space left on device; kept: 3 whole record(s) in "
        f"out/{run_id}/recreate.jsonl; out/{run_id}/run.json (as measured until then); the run in the history "
        f"database as {run_id}"
    )
    assert [r["i"] for r in _whole_lines(jsonl)] == [1, 2, 3]
    on_disk = json.loads((jsonl.parent / "run.json").read_text(encoding="utf-8"))
    (entry,) = on_disk["results"]
    assert entry["status"] == "error" and [r["i"] for r in entry["iterations"]] == [1, 2, 3]
    (stored,) = store.load_run(run_id, str(isolated / "h.sqlite3")).results
    assert [r.i for r in stored.iterations] == [1, 2, 3]


def test_run_json_refused_names_it_and_the_row_is_stored(isolated, monkeypatch):
    from orchestrator.run import runner

    real = runner.write_json_atomic

    def refuse_run_json(path, data):
        if Path(path).name == "run.json":
            raise OSError(28, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(runner, "write_json_atomic", refuse_run_json)
    res = CliRunner().invoke(main, ["compare", "--strategies", "restart,recreate", "--iters", "3", *FAST,
                                    "--out", "out", "--db", "h.sqlite3"], prog_name="orch")  # fmt: skip
    assert res.exit_code == 1, res.output
    (jsonl,) = (isolated / "out").glob("*/restart.jsonl")
    run_id = jsonl.parent.name
    assert _one_line(res) == (
        f"orch: cannot write out/{run_id}/run.json: No space left on device; kept: 3 whole record(s) in "
        f"out/{run_id}/restart.jsonl; the run in the history database as {run_id}"
    )
    assert not (jsonl.parent / "recreate.jsonl").exists()  # the disk is full: no further strategy
    assert len(_whole_lines(jsonl)) == 3
    stored = store.load_run(run_id, str(isolated / "h.sqlite3"))
    assert [(e.strategy, len(e.iterations)) for e in stored.results] == [("restart", 3)]


def test_load_writer_thread_stops_the_run_in_one_line(isolated, monkeypatch, capfd):
    _disk_fills_at(monkeypatch, 6)
    res = CliRunner().invoke(main, ["load", "--rate", "50", "--requests", "200", "--ttft-ms", "5", "--token-ms", "0",
                                    "--out", "out", "--db", "h.sqlite3"], prog_name="orch")  # fmt: skip
    assert res.exit_code == 1, res.output
    (jsonl,) = (isolated / "out").glob("load-*/requests.jsonl")
    line = _one_line(res)
    assert line.startswith(f"orch: cannot write {jsonl.relative_to(isolated)}: No space left on device; kept: 5 whole")
    assert "Traceback" not in capfd.readouterr().err  # nothing from the writer thread either
    assert len(_whole_lines(jsonl)) == 5
    (stored,) = store.list_runs(str(isolated / "h.sqlite3"))
    assert line.endswith(f"the run in the history database as {stored.run_id}") and stored.kind == "load"
    (level,) = store.list_load_levels(str(isolated / "h.sqlite3"))
    assert level.sent == 4  # the 5 whole lines: the output check's reference request, then 4 of the level


@pytest.mark.parametrize("argv, jsonl", [
    (["compare", "--engines", "calibration", "--strategies", "recreate", "--iters", "50", "--no-limits"],
     "*/calibration/recreate.jsonl"),
    (["ab", "--a", "--leak-mb 0", "--b", "--leak-mb 1", "--strategies", "recreate", "--iters", "50", "--rounds", "2"],
     "*/a-r1/recreate/recreate.jsonl"),
], ids=["compare-engines", "ab"])  # fmt: skip
def test_compare_engines_and_ab_stop_in_one_line_and_store_the_row(isolated, monkeypatch, argv, jsonl):
    _disk_fills_at(monkeypatch, 4)
    res = CliRunner().invoke(main, [*argv, *FAST, "--out", "out", "--db", "h.sqlite3"], prog_name="orch")
    assert res.exit_code == 1, res.output
    (path,) = (isolated / "out").glob(jsonl)
    line = _one_line(res)
    assert line.startswith(f"orch: cannot write {path.relative_to(isolated)}: No space left on device; kept: 3 whole")
    assert len(_whole_lines(path)) == 3
    (stored,) = store.list_runs(str(isolated / "h.sqlite3"))
    assert line.endswith(f"the run in the history database as {stored.run_id}")
    assert not list((isolated / "out").glob("*/b-r1"))  # the disk is full: nothing further ran


def test_transcribe_keeps_the_files_done(isolated, monkeypatch, shared):
    import shutil

    for stem in ("a", "b", "c"):
        shutil.copy(shared / "samples" / "jfk.wav", isolated / f"{stem}.wav")
    _disk_fills_at(monkeypatch, 2)
    res = CliRunner().invoke(main, ["transcribe", "a.wav", "b.wav", "c.wav", "--ttft-ms", "5", "--token-ms", "1",
                                    "--jsonl", "o.jsonl"], prog_name="orch")  # fmt: skip
    assert res.exit_code == 1, res.output
    assert res.stderr.splitlines()[-1] == (
        "orch: cannot write o.jsonl: No space left on device; kept: 1 whole record(s) in o.jsonl"
    )
    assert "Traceback" not in res.output
    assert [r["index"] for r in _whole_lines(isolated / "o.jsonl")] == [1]


@pytest.fixture
def nearly_full(tmp_path):
    """A 2 MB tmpfs with ~120 KB left (root only; skipped where mount is refused)."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (mnt / "filler").write_bytes(b"\0" * (2 * 1024 * 1024 - 120 * 1024))
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


@pytest.mark.parametrize(
    "argv, pattern",
    [
        (["run", "--strategy", "recreate", "--iters", "100000", *FAST], "*/recreate.jsonl"),
        (
            ["load", "--rate", "100", "--requests", "100000", "--ttft-ms", "1", "--token-ms", "0"],
            "load-*/requests.jsonl",
        ),
    ],
    ids=["run", "load"],
)
@pytest.mark.slow
def test_a_real_full_disk(tmp_path, nearly_full, argv, pattern):
    env = {**os.environ, "PYTHONPATH": str(REPO), "ORCH_DB": str(tmp_path / "h.sqlite3")}
    proc = subprocess.run([sys.executable, "-c", "from orchestrator.cli import main; main()", *argv,
                           "--out", str(nearly_full / "o")], capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    (jsonl,) = (nearly_full / "o").glob(pattern)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith(f"orch: cannot write {jsonl}: No space left on device; kept: ")
    kept = len(_whole_lines(jsonl))
    assert kept > 0 and f"kept: {kept} whole" in lines[0]
    (stored,) = store.list_runs(str(tmp_path / "h.sqlite3"))
    assert lines[0].endswith(f"the run in the history database as {stored.run_id}")
