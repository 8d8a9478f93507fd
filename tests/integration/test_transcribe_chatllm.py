"""`orch transcribe` on chatllm.cpp with the tiny random-weight models: the shared samples'
folder with one ASR load and one aligner load, greedy decoding (the same text as a fresh
process gives for the same file), SRT per file, the records. Skips, saying what is missing,
without a chatllm.cpp build (CHATLLM_DIR) or the tiny models (ORCH_TINY_MODELS)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from orchestrator.engines.chatllm.paths import resolve

from conftest import REPO

pytestmark = [pytest.mark.chatllm, pytest.mark.slow]

PATHS = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))


@pytest.fixture(scope="module")
def tiny():
    missing = [
        w
        for w, p in (("checkout", PATHS.root), ("main", PATHS.main), ("libchatllm", PATHS.lib))
        if not os.path.exists(p)
    ]
    if missing:
        pytest.skip(
            f"chatllm.cpp not found ({', '.join(missing)} missing under {PATHS.root}); set CHATLLM_DIR to a built checkout"
        )
    folder = os.environ.get("ORCH_TINY_MODELS")
    if not folder:
        pytest.skip("tiny models not given: set ORCH_TINY_MODELS to a folder made by `orch make-test-models`")
    models = {n: Path(folder) / f"{n}.bin" for n in ("tiny-asr-a", "tiny-aligner")}
    absent = [str(p) for p in models.values() if not p.exists()]
    if absent:
        pytest.skip(f"tiny models missing: {', '.join(absent)}")
    return models


def _orch(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "CHATLLM_DIR": PATHS.root}
    return subprocess.run(["orch", *args], capture_output=True, text=True, env=env, timeout=600)


def test_a_folder_on_the_tiny_models_with_srt(tiny, shared, tmp_path):
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in ("hours-zh", "phone-zh"):
        for ext in (".wav", ".txt"):
            shutil.copy(shared / "samples" / (name + ext), folder / (name + ext))
    out = tmp_path / "out"
    out.mkdir()  # orch makes only the folder it writes into (--srt's), never its parents
    proc = _orch(
        "transcribe",
        str(folder),
        "--engine",
        "chatllm",
        "--model",
        str(tiny["tiny-asr-a"]),
        "--aligner-model",
        str(tiny["tiny-aligner"]),
        "--srt",
        str(out / "srt"),
        "--jsonl",
        str(out / "o.jsonl"),
    )
    assert proc.returncode == 0, proc.stderr
    assert "note: greedy decoding (--sampling greedy): the same audio gives the same text" in proc.stderr
    records = [json.loads(line) for line in (out / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["index"], Path(r["file"]).name, r["status"], r["language"]) for r in records] == [
        (1, "hours-zh.wav", "ok", "Chinese"),
        (2, "phone-zh.wav", "ok", "Chinese"),
    ]
    assert records[0]["load_ms"] > 0 and records[1]["load_ms"] is None  # one load for both files
    for r in records:
        assert r["tokens"] > 0 and r["ttft_ms"] > 0 and r["rtf"] > 0 and r["cer"] is not None
        assert r["srt"] == str(out / "srt" / (Path(r["file"]).stem + ".srt"))
        assert Path(r["srt"]).read_text(encoding="utf-8").startswith("1\n")  # the aligner's words
        assert isinstance(r["alignment_violations"], int)
        # streamed on stdout, the text shown (a random model's garbage: compared, not read)
        assert r["text"] in proc.stdout.replace("zh-TW+ITN: ", "")
    # greedy: a second run's text for phone-zh alone (a fresh process, a fresh load) is the same
    again = _orch(
        "transcribe",
        str(folder / "phone-zh.wav"),
        "--engine",
        "chatllm",
        "--model",
        str(tiny["tiny-asr-a"]),
        "--jsonl",
        str(out / "again.jsonl"),
    )
    assert again.returncode == 0, again.stderr
    (alone,) = [json.loads(line) for line in (out / "again.jsonl").read_text(encoding="utf-8").splitlines()]
    assert alone["text_raw"] == records[1]["text_raw"]
