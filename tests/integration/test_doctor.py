import subprocess


def test_doctor_names_each_missing_piece_and_fails(tmp_path):
    proc = subprocess.run(["orch", "doctor", "--chatllm-dir", str(tmp_path / "absent")], capture_output=True, text=True)
    assert proc.returncode == 1
    assert "chatllm.cpp checkout" in proc.stdout and "CHATLLM_DIR" in proc.stdout
    assert "cmake --build" in proc.stdout  # how to build main / libchatllm
    assert "cannot start" in proc.stderr


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


def test_doctor_reads_model_headers(tmp_path):
    bad = tmp_path / "qwen3-asr-0.6b-q4_0.bin"
    bad.write_bytes(b"<html>429 Too Many Requests</html>")
    # run where no models/tiny/ is, so doctor points at make-test-models whatever this checkout holds
    proc = subprocess.run(
        ["orch", "doctor", "--chatllm-dir", str(tmp_path), "--model", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "not a chatllm.cpp model file (bad magic" in proc.stdout
    assert "orch make-test-models" in proc.stdout  # where tiny models would come from
