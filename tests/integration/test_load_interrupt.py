"""Ctrl-C in the middle of an orch load level: SIGINT to the real command once its JSONL holds
a finished request (a file it writes, not a sleep); it exits 130, every request it wrote is
there exactly once, the result JSON says interrupted and accounts for every one, and the run
is in the history database, status interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.mark.slow
def test_ctrl_c_mid_level_keeps_every_finished_request(tmp_path):
    out = tmp_path / "out"
    result_json = tmp_path / "r.json"
    db = tmp_path / "history.sqlite3"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "ORCH_DB": str(db)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", "load", "--rate", "20", "--requests", "2000",
         "--ttft-ms", "40", "--token-ms", "1", "--out", str(out), "--json", str(result_json)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        jsonl = None
        while time.monotonic() < deadline:  # the signal: >= 3 finished level requests on disk (after the reference pass's one)
            found = list(out.glob("load-*/requests.jsonl"))
            if found and len(found[0].read_bytes().splitlines()) >= 4:
                jsonl = found[0]
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert jsonl is not None, "no request finished within 120 s"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    assert "interrupted" in stderr
    every = [json.loads(line) for line in jsonl.read_text().splitlines()]
    ids = [r["i"] for r in every]
    assert len(ids) == len(set(ids))  # exactly once each
    assert [r["level"] for r in every].count(-1) == 1  # the output check's reference pass: one audio, once
    records = [r for r in every if r["level"] >= 0]
    statuses = {r["status"] for r in records}
    assert statuses <= {"ok", "cancelled"}, statuses
    ok = [r for r in records if r["status"] == "ok"]
    assert len(ok) >= 3 and all(r["t_end"] is not None for r in ok)
    result = json.loads(result_json.read_text())
    assert result["interrupted"] is True
    (level,) = result["levels"]
    assert level["accounted"] is True
    assert level["sent"] == len(records)
    assert level["ok"] == len(ok)
    assert level["ok"] + level["cancelled"] == level["sent"]

    from orchestrator.history import store

    (stored,) = store.list_runs(str(db))
    assert (stored.run_id, stored.kind, stored.status) == (result["run_id"], "load", "interrupted")
    (row,) = store.list_load_levels(str(db))
    assert (row.sent, row.ok, row.cancelled) == (level["sent"], level["ok"], level["cancelled"])
