"""A reader that closes orch's stdout early (`orch itn big.txt | head -1`): orch ends
quietly, exit 0 as `cat`'s pipeline would, no internal error, no traceback file, and a run
still stores what it measured (issue 18, item 3). Through real `orch` processes and pipes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest


def _env(tmp: Path) -> dict:
    env = dict(os.environ, ORCH_DB=str(tmp / "h.sqlite3"), ORCH_LOCK_DIR=str(tmp / "locks"), TMPDIR=str(tmp))
    env.pop("CHATLLM_DIR", None)
    return env


def _orch_into_closed_pipe(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    """`orch ARGS | head -0`, deterministically: the pipe's read end is closed before orch
    starts, so its first write to stdout meets EPIPE."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            ["orch", *args], stdout=write_end, stderr=subprocess.PIPE, env=_env(tmp), cwd=tmp, timeout=120
        )
    finally:
        os.close(write_end)


@pytest.mark.slow
def test_itn_into_a_closed_pipe_ends_quietly(tmp_path):
    (tmp_path / "big.txt").write_text("一万三千七百零二\n" * 50_000, encoding="utf-8")
    proc = _orch_into_closed_pipe(["itn", "big.txt"], tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert not list(tmp_path.glob("orch-traceback-*"))


def test_score_into_a_closed_pipe_ends_quietly(tmp_path):
    (tmp_path / "ref.txt").write_text("今天天气很好\n", encoding="utf-8")
    (tmp_path / "hyp.txt").write_text("今天天气不好\n", encoding="utf-8")
    proc = _orch_into_closed_pipe(["score", "--reference", "ref.txt", "--hypothesis", "hyp.txt"], tmp_path)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert not list(tmp_path.glob("orch-traceback-*"))


@pytest.mark.slow
def test_head_reads_one_line_of_itn_and_leaves(tmp_path):
    """A real reader that takes the first line and closes: 400 kB of output cannot fit in a
    pipe, so orch is still writing when it goes."""
    (tmp_path / "big.txt").write_text("二十\n" * 200_000, encoding="utf-8")
    proc = subprocess.Popen(
        ["orch", "itn", "big.txt"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(tmp_path), cwd=tmp_path
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"20\n"
    proc.stdout.close()
    err = proc.stderr.read()
    assert (proc.wait(timeout=120), err) == (0, b"")
    assert not list(tmp_path.glob("orch-traceback-*"))


@pytest.mark.slow
def test_a_run_into_a_closed_pipe_still_stores_what_it_measured(tmp_path):
    proc = _orch_into_closed_pipe(
        ["run", "--strategy", "restart", "--iters", "2", "--warmup", "0", "--ttft-ms", "1", "--token-ms", "0",
         "--out", "out"],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr and b"internal error" not in proc.stderr
    listed = subprocess.run(["orch", "history", "--format", "json"], capture_output=True, env=_env(tmp_path),
                            cwd=tmp_path, timeout=120)
    rows = json.loads(listed.stdout)
    assert [(r["strategy"], r["status"]) for r in rows] == [("restart", "ok")]
