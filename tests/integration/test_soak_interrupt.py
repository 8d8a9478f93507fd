"""Ctrl-C stops `orch soak` at once (issue 19): a real `orch soak` process, three calibration
cells; the interrupt lands while the second cell runs (its first record is on disk), as a
terminal sends it (SIGINT to orch's process group; the workers have their own). Exit 130,
the first cell stored, the second not (its measurements stay in its run folder), the third
never started."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from orchestrator.history import store

CONFIG = textwrap.dedent("""
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

    [[matrix]]
    name = "never"
    strategies = ["cli"]
    iters = 2
    warmup = 0
""")


def _first_record(runs: Path, strategy: str, proc: subprocess.Popen, deadline_s: float = 120) -> Path:
    """The run folder whose <strategy>.jsonl has a record: the cell is running. The deadline
    only bounds a broken run; the signal is the file, not the time."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for path in runs.glob(f"*/{strategy}.jsonl"):
            if path.read_text(encoding="utf-8").strip():
                return path.parent
        if proc.poll() is not None:
            pytest.fail(f"orch soak ended before the cell ran: {proc.returncode}\n{proc.stderr.read()}")
        time.sleep(0.05)
    pytest.fail("the second cell wrote no record")


@pytest.mark.slow
def test_the_first_ctrl_c_stops_the_soak_with_the_finished_cells_stored(tmp_path):
    config = tmp_path / "t.toml"
    config.write_text(CONFIG, encoding="utf-8")
    db = tmp_path / "h.sqlite3"
    env = dict(os.environ, ORCH_DB=str(db), ORCH_LOCK_DIR=str(tmp_path / "locks"))
    proc = subprocess.Popen(
        ["orch", "soak", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    try:
        run_dir = _first_record(tmp_path / "runs", "recreate", proc)
        os.killpg(proc.pid, signal.SIGINT)  # one Ctrl-C
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "soak t/quick: running restart" in err and "soak t/long: running recreate" in err
    assert "soak t/never" not in err and "t/never" not in out  # the third cell never started
    assert (
        f"soak t: interrupted (Ctrl-C) during t/long: 1 of 3 run(s) finished and stored; what t/long measured "
        f"is in {run_dir / 'run.json'}, not stored"
    ) in err
    assert "Traceback" not in err
    stored = store.list_runs(str(db), kind="soak")
    assert [(r.matrix_key, r.outcome) for r in stored] == [("t/quick", "ok")]
    # the cut-short cell's measurements: in its folder, its strategy interrupted
    on_disk = (run_dir / "run.json").read_text(encoding="utf-8")
    assert '"status": "interrupted"' in on_disk
    assert not list((tmp_path / "runs").glob("*/cli.jsonl"))
