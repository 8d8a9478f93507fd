import os
import re
import subprocess

import pytest


@pytest.mark.slow
def test_doctor_names_each_missing_piece_and_fails(tmp_path):
    proc = subprocess.run(["orch", "doctor", "--engine", "chatllm", "--chatllm-dir", str(tmp_path / "absent")],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "chatllm.cpp checkout" in proc.stdout and "CHATLLM_DIR" in proc.stdout
    assert "cmake --build" in proc.stdout  # how to build main / libchatllm
    assert "cannot start" in proc.stderr


@pytest.mark.slow
def test_doctor_defaults_to_the_calibration_engine_as_run_does(tmp_path):
    """A fresh machine (no chatllm.cpp anywhere): doctor passes, as `orch run` would, and says
    chatllm.cpp is optional and how to check it (issue 18: it defaulted to chatllm, exit 1)."""
    env = {k: v for k, v in os.environ.items() if k != "CHATLLM_DIR"}
    proc = subprocess.run(["orch", "doctor"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.splitlines()[-2:] == [
        "A calibration run can start.",
        "chatllm.cpp is optional: the calibration engine needs none of it (its rows above are information). "
        "To check a chatllm.cpp run: orch doctor --engine chatllm [--model PATH].",
    ]
    for item in ("chatllm.cpp checkout", "libchatllm", "main"):  # chatllm.cpp's rows: information
        assert re.search(rf"^{re.escape(item)}\s+info\s", proc.stdout, re.M), proc.stdout


@pytest.mark.slow
def test_doctor_calibration_needs_no_chatllm(tmp_path):
    proc = subprocess.run(
        ["orch", "doctor", "--engine", "calibration", "--chatllm-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout


def test_chatllm_run_fails_early_without_checkout(tmp_path):
    proc = subprocess.run(
        [
            "orch",
            "run",
            "--strategy",
            "restart",
            "--engine",
            "chatllm",
            "--chatllm-dir",
            str(tmp_path / "absent"),
            "--model",
            "m.bin",
            "--out",
            str(tmp_path),
            "--no-history",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "chatllm.cpp checkout not found" in proc.stderr


@pytest.mark.slow
def test_doctor_reads_model_headers(tmp_path):
    bad = tmp_path / "qwen3-asr-0.6b-q4_0.bin"
    bad.write_bytes(b"<html>429 Too Many Requests</html>")
    # run where no models/tiny/ is, so doctor points at make-test-models whatever this checkout holds
    proc = subprocess.run(["orch", "doctor", "--engine", "chatllm", "--chatllm-dir", str(tmp_path), "--model", str(bad)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1
    assert "not a chatllm.cpp model file (bad magic" in proc.stdout
    assert "orch make-test-models" in proc.stdout  # where tiny models would come from
