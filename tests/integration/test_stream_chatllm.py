"""orch stream on chatllm.cpp with the tiny random-weight model: the engine takes a start of
the answer (chatllm_set_ai_prefix, with a language) and each policy runs end to end.
Skipped without a chatllm.cpp build (CHATLLM_DIR) or the tiny models (ORCH_TINY_MODELS)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from orchestrator.engines.chatllm.paths import resolve

from conftest import REPO

pytestmark = [pytest.mark.chatllm, pytest.mark.slow]

PATHS = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))
PHONE = REPO / "samples" / "phone-zh.wav"


@pytest.fixture(scope="module")
def model():
    if not all(os.path.exists(p) for p in (PATHS.root, PATHS.lib)):
        pytest.skip(f"chatllm.cpp's libchatllm not found under {PATHS.root}; set CHATLLM_DIR to a built checkout")
    folder = os.environ.get("ORCH_TINY_MODELS")
    path = Path(folder or "") / "tiny-asr-a.bin"
    if not folder or not path.exists():
        pytest.skip("tiny models not given: set ORCH_TINY_MODELS to a folder made by `orch make-test-models`")
    return path


@pytest.mark.parametrize("policy", ["redecode", "window", "vad"])
def test_each_policy_streams_on_the_tiny_model(model, tmp_path, policy):
    out = tmp_path / "r.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "CHATLLM_DIR": PATHS.root}
    args = ["orch", "stream", "--engine", "chatllm", "--model", str(model), "--language", "Chinese", "--audio", str(PHONE),
            "--policy", policy, "--window-s", "2", "--vad", "energy", "--chunk-s", "1", "--unfixed-tokens", "1",
            "--unpaced", "--no-whole", "--out", str(tmp_path / "out"), "--json", str(out)]  # fmt: skip
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    states = [u["prefix_state"] for u in result["updates"]]
    if policy == "vad":
        assert set(states) == {None} and len(states) >= 1
    else:
        assert states[:2] == [None, None] and "taken" in states  # a start of the answer from the 3rd chunk
        assert result["stream"]["method"] == "start-of-answer"
