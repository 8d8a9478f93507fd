"""SIGTERM and SIGHUP stop a command as Ctrl-C does (issue 27, item 1): a real `orch run`,
`compare`, `load`, `soak` and `transcribe` on the calibration engine gets the signal once its
first record is on disk (a file it writes, not a sleep), as `timeout`, `systemctl stop` or a
closed ssh session sends it (to orch alone: the workers have their own sessions). It exits
143 (SIGTERM) or 129 (SIGHUP), says which on stderr, and what it measured is written and
stored: the JSONL, run.json / load.json and the history row agree."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from orchestrator.history import store

from conftest import REPO

SIGNALS = [(signal.SIGTERM, 143, "SIGTERM"), (signal.SIGHUP, 129, "SIGHUP")]
SLOW = ["--ttft-ms", "20", "--token-ms", "0", "--warmup", "0"]


def _start(argv: list[str], tmp_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ORCH_DB": str(tmp_path / "h.sqlite3"),
           "ORCH_LOCK_DIR": str(tmp_path / "locks")}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", *argv],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _signal_after_first_record(proc: subprocess.Popen, pattern: str, root: Path, sig: int, lines: int = 2) -> Path:
    """Send `sig` once a file matching `pattern` under `root` holds `lines` lines (the last
    one seen may not be committed yet: the sink cuts it back if the signal lands first);
    that file."""
    deadline = time.monotonic() + 120  # bounds a broken run only
    while time.monotonic() < deadline:
        for path in root.glob(pattern):
            if path.read_bytes().count(b"\n") >= lines:
                proc.send_signal(sig)
                return path
        if proc.poll() is not None:
            pytest.fail(f"ended before its first record: {proc.returncode}\n{proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail("no record within 120 s")


def _finish(proc: subprocess.Popen) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err, err
    return proc.returncode, out, err


def _lines(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert data.endswith(b"\n"), "a torn last line"
    return [json.loads(line) for line in data.splitlines()]


def _check_run(tmp_path: Path, jsonl: Path, name: str) -> None:
    """run.json, the JSONL and the history row agree; the strategy says it was stopped."""
    result = json.loads((jsonl.parent / "run.json").read_text(encoding="utf-8"))
    entry = next(r for r in result["results"] if r["strategy"] == jsonl.stem)
    assert (entry["status"], entry["error"]) == ("interrupted", f"stopped by {name}")
    on_disk = [r["i"] for r in _lines(jsonl)]
    assert [r["i"] for r in entry["iterations"]] == on_disk and on_disk
    stored = store.load_run(result["run_id"], str(tmp_path / "h.sqlite3"))
    (kept,) = [r for r in stored.results if r.strategy == jsonl.stem]
    assert [r.i for r in kept.iterations] == on_disk
    assert kept.status.value == "interrupted"


@pytest.mark.parametrize("sig, code, name", SIGNALS)
@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--strategy", "recreate", "--iters", "100000"],
        ["compare", "--strategies", "recreate,restart", "--iters", "100000"],
    ],
    ids=["run", "compare"],
)
@pytest.mark.slow
def test_run_and_compare_write_and_store_what_was_measured(tmp_path, argv, sig, code, name):
    proc = _start([*argv, *SLOW, "--out", "out"], tmp_path)
    jsonl = _signal_after_first_record(proc, "out/*/recreate.jsonl", tmp_path, sig)
    rc, out, err = _finish(proc)
    assert rc == code, err
    assert "interrupted: what was measured is written below" in err
    assert f"recreate: interrupted: stopped by {name}" in out
    _check_run(tmp_path, jsonl, name)
    assert not list(tmp_path.glob("out/*/restart.jsonl"))  # the next strategy never started


@pytest.mark.parametrize("sig, code, name", SIGNALS)
def test_load_writes_and_stores_every_finished_request(tmp_path, sig, code, name):
    argv = ["load", "--rate", "20", "--requests", "2000", "--ttft-ms", "40", "--token-ms", "1", "--out", "out"]
    proc = _start(argv, tmp_path)
    jsonl = _signal_after_first_record(proc, "out/load-*/requests.jsonl", tmp_path, sig)
    rc, _out, err = _finish(proc)
    assert rc == code, err
    assert err.rstrip().endswith(f"orch: interrupted ({name})"), err
    every = _lines(jsonl)
    records = [r for r in every if r["level"] >= 0]  # the output check's reference request left out
    assert len(every) - len(records) <= 1
    result = json.loads((jsonl.parent / "load.json").read_text(encoding="utf-8"))
    assert result["interrupted"] is True
    (level,) = result["levels"]
    assert level["sent"] == len(records) and level["ok"] + level["cancelled"] == level["sent"]
    (stored,) = store.list_runs(str(tmp_path / "h.sqlite3"))
    assert (stored.run_id, stored.kind, stored.status) == (result["run_id"], "load", "interrupted")
    (row,) = store.list_load_levels(str(tmp_path / "h.sqlite3"))
    assert (row.sent, row.ok, row.cancelled) == (level["sent"], level["ok"], level["cancelled"])


SOAK = textwrap.dedent("""
    name = "t"
    out = "runs"
    [defaults]
    engine = "calibration"
    engine_options = {ttft_ms = 1, token_ms = 0}

    [[matrix]]
    name = "quick"
    strategies = ["restart"]
    iters = 2
    warmup = 0

    [[matrix]]
    name = "long"
    strategies = ["recreate"]
    iters = 100000
    warmup = 0
    engine_options = {ttft_ms = 20}
""")


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, name", SIGNALS)
def test_soak_stores_the_finished_cells_and_keeps_the_one_cut_short(tmp_path, sig, code, name):
    (tmp_path / "t.toml").write_text(SOAK, encoding="utf-8")
    proc = _start(["soak", "--config", "t.toml"], tmp_path)
    jsonl = _signal_after_first_record(proc, "runs/*/recreate.jsonl", tmp_path, sig)
    rc, _out, err = _finish(proc)
    assert rc == code, err
    assert f"soak t: interrupted ({name}) during t/long: 1 of 2 run(s) finished and stored" in err
    stored = store.list_runs(str(tmp_path / "h.sqlite3"), kind="soak")
    assert [(r.matrix_key, r.outcome) for r in stored] == [("t/quick", "ok")]
    result = json.loads((jsonl.parent / "run.json").read_text(encoding="utf-8"))
    (entry,) = result["results"]
    assert entry["status"] == "interrupted"
    assert [r["i"] for r in entry["iterations"]] == [r["i"] for r in _lines(jsonl)]


@pytest.mark.parametrize("sig, code, name", SIGNALS)
def test_transcribe_keeps_the_finished_files_records(shared, tmp_path, sig, code, name):
    folder = tmp_path / "three"
    folder.mkdir()
    for stem in ("a", "b", "c"):
        shutil.copy(shared / "samples" / "jfk.wav", folder / f"{stem}.wav")
    # file 2 hangs in the engine: once file 1's record is on disk, file 2 is under way
    argv = ["transcribe", str(folder), "--ttft-ms", "5", "--token-ms", "1", "--hang-at", "2",
            "--jsonl", "o.jsonl", "--json", "o.json"]  # fmt: skip
    proc = _start(argv, tmp_path)
    _signal_after_first_record(proc, "o.json", tmp_path, sig)  # rewritten after a file's record is kept
    jsonl = tmp_path / "o.jsonl"
    rc, _out, err = _finish(proc)
    assert rc == code, err
    assert err == f"orch: interrupted ({name}): 1 of 3 files done (a.wav); their records are in o.jsonl, o.json\n"
    records = _lines(jsonl)
    assert [(r["index"], r["status"]) for r in records] == [(1, "ok")]
    assert json.loads((tmp_path / "o.json").read_text(encoding="utf-8")) == records
