"""Bad invocations through a real `orch` process: exit codes, one-line messages, no traceback,
nothing made (tests/unit/test_exit_codes.py has the rest, through click's CliRunner)."""

from __future__ import annotations

import os
import subprocess

import pytest

NOT_UTF8 = b"ab\xffcd\n"  # 0xff at offset 2


def _orch(args, tmp, stdin=None):
    env = dict(os.environ, ORCH_DB=str(tmp / "h.sqlite3"), ORCH_LOCK_DIR=str(tmp / "locks"))
    env.pop("CHATLLM_DIR", None)
    return subprocess.run(["orch", *args], input=stdin, capture_output=True, env=env, cwd=tmp, timeout=120)


def test_process_itn_stdin_not_utf8(tmp_path):
    proc = _orch(["itn"], tmp_path, stdin="二十\n".encode() + NOT_UTF8)
    assert proc.returncode == 2
    assert proc.stdout.decode() == "20\n"  # the lines before the bad one were written
    assert proc.stderr.decode().strip() == "orch: stdin is not UTF-8 text: byte 0xff at offset 9 (invalid start byte)"


def test_process_history_db_in_missing_folder_makes_nothing(tmp_path):
    proc = _orch(["history", "--db", str(tmp_path / "no" / "such" / "x.sqlite")], tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.decode().strip().splitlines()) == 1
    assert b"Traceback" not in proc.stderr
    assert not (tmp_path / "no").exists()


def test_process_chatllm_missing_names_every_piece(tmp_path):
    proc = _orch(
        [
            "run",
            "--engine",
            "chatllm",
            "--strategy",
            "restart",
            "--chatllm-dir",
            str(tmp_path / "none"),
            "--no-history",
            "--out",
            str(tmp_path / "out"),
        ],
        tmp_path,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "chatllm.cpp checkout not found" in err and "no model given" in err and "no audio given" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_process_strategy_crash_exits_1(tmp_path):
    proc = _orch(
        [
            "run",
            "--strategy",
            "restart",
            "--iters",
            "2",
            "--warmup",
            "0",
            "--crash-at",
            "1",
            "--ttft-ms",
            "1",
            "--token-ms",
            "0",
            "--no-history",
            "--out",
            str(tmp_path / "out"),
        ],
        tmp_path,
    )
    assert proc.returncode == 1, proc.stderr.decode()
    assert b"Traceback" not in proc.stderr
