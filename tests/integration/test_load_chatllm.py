"""orch load on chatllm.cpp's tiny random-weight model: the automatic sweep over worker
processes with a weighted mix of short and long audio, and the same model behind the test
transcription server (--url --serve-cmd), streamed. Every request accounted for. Skips, saying
what is missing, without a chatllm.cpp build (CHATLLM_DIR) or the tiny models (ORCH_TINY_MODELS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from orchestrator.engines.chatllm.paths import resolve

from conftest import REPO

pytestmark = [pytest.mark.chatllm, pytest.mark.slow]

PATHS = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


@pytest.fixture(scope="module")
def tiny_asr() -> Path:
    missing = [w for w, p in (("main", PATHS.main), ("libchatllm", PATHS.lib)) if not os.path.exists(p)]
    if missing:
        pytest.skip(f"chatllm.cpp not found ({', '.join(missing)} missing under {PATHS.root}); set CHATLLM_DIR")
    folder = os.environ.get("ORCH_TINY_MODELS")
    if not folder:
        pytest.skip("tiny models not given: set ORCH_TINY_MODELS to a folder made by `orch make-test-models`")
    model = Path(folder) / "tiny-asr-a.bin"
    if not model.exists():
        pytest.skip(f"tiny model missing: {model}")
    return model


def orch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", "load", *args],
        capture_output=True, text=True, env=ENV, timeout=900,
    )  # fmt: skip


def test_sweep_on_the_tiny_model_with_a_weighted_mix(tiny_asr, shared, tmp_path):
    mix = tmp_path / "mix.txt"
    mix.write_text(f"3 {shared / 'samples' / 'phone-zh.wav'}\n1 {shared / 'samples' / 'jfk.wav'}\n")
    res = orch(
        "--engine", "chatllm", "--chatllm-dir", str(PATHS.root), "--model", str(tiny_asr), "--language", "English",
        "--threads", "1", "--max-new-tokens", "32", "--audio-list", str(mix), "--sweep", "--sweep-levels", "3", "--requests", "6",
        "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    levels = json.loads((tmp_path / "r.json").read_text())["levels"]
    assert [lv["arrivals"] for lv in levels[:2]] == ["synchronous (concurrency 1)", "throughput (concurrency 2)"]
    assert len(levels) == 3
    for lv in levels:
        assert lv["accounted"] and lv["cancelled"] == 0
        assert lv["sent"] == lv["ok"] + lv["failed"] + lv["timed_out"] + lv["dropped"]
    (jsonl,) = (tmp_path / "out").glob("load-*/requests.jsonl")
    audio = {json.loads(line)["audio"] for line in jsonl.read_text().splitlines()}
    assert audio <= {str(shared / "samples" / "phone-zh.wav"), str(shared / "samples" / "jfk.wav")}


def test_the_tiny_model_behind_the_test_server(tiny_asr, shared, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    serve = " ".join(
        [sys.executable, str(REPO / "tests" / "asr_server" / "server.py"), "--port", str(port), "--engine", "chatllm",
         "--chatllm-dir", str(PATHS.root), "--model", str(tiny_asr), "--language", "English"]
    )  # fmt: skip
    res = orch(
        "--url", f"http://127.0.0.1:{port}/v1/audio/transcriptions", "--serve-cmd", serve, "--model", "tiny-asr-a",
        "--language", "English", "--audio", str(shared / "samples" / "phone-zh.wav"), "--concurrency", "1",
        "--requests", "5", "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    (level,) = result["levels"]
    assert (level["sent"], level["ok"], level["streamed"]) == (5, 5, 5)
    (jsonl,) = (tmp_path / "out").glob("load-*/requests.jsonl")
    for line in jsonl.read_text().splitlines():
        r = json.loads(line)
        assert r["tokens"] >= 1 and r["t_first"] <= r["t_end"]
