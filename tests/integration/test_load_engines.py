"""`orch load --engine E` through the same plan as `orch run --engine E` (LoadPlan.build: the
engine's hooks, greedy decoding by default), end to end: every request accounted for (sent,
answered, written once to requests.jsonl), greedy decoding recorded in load.json, and under
greedy decoding one text for one audio across every request and worker. The calibration
engine always; the transformers engine on its tiny random-weight model when torch and
transformers are in this Python (skipped, saying which, otherwise)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from orchestrator.engines import registry as engine_registry
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs
from orchestrator.run.preflight import preflight

from conftest import REPO

PHONE = REPO / "samples" / "phone-zh.wav"


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    """orch as the user runs it, with this interpreter and this checkout's code."""
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


def _accounted(proc: subprocess.CompletedProcess, cwd: Path, requests: int) -> list[dict]:
    """The run's load.json says greedy and every request ok; requests.jsonl has each once."""
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = json.loads((cwd / "r.json").read_text())
    assert run["plan"]["decoding"] == "greedy"
    (level,) = run["levels"]
    assert (level["sent"], level["ok"], level["failed"], level["timed_out"]) == (requests, requests, 0, 0)
    every = [json.loads(line) for line in (cwd / run["records_path"]).read_text().splitlines()]
    lines = [r for r in every if r["level"] >= 0]  # the measured level (below 0: the output checks' requests)
    assert len({r["i"] for r in every}) == len(every)  # each request written once
    assert len(lines) == requests and all(r["status"] == "ok" for r in lines)
    if level.get("drift_under_load"):  # greedy: the same text under load as the same audio alone
        assert level["drift_under_load"]["drifted"] == 0
    return lines


def test_calibration_under_load_through_the_run_plan(tmp_path):
    proc = orch(
        "load", "--engine", "calibration", "--model", "m:4", "--concurrency", "2", "--workers", "2",
        "--requests", "8", "--ttft-ms", "5", "--token-ms", "1", "--no-history", "--json", "r.json",
        cwd=tmp_path,
    )  # fmt: skip
    lines = _accounted(proc, tmp_path, 8)
    assert len({r["text"] for r in lines}) == 1  # greedy: the same text every request


def test_a_chatllm_style_check_now_comes_from_the_engine_hooks(tmp_path):
    proc = orch("load", "--engine", "transformers", "--concurrency", "1", "--no-history", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no model given: pass --model FOLDER" in proc.stderr, proc.stderr  # the engine's pre-flight
    assert "no audio given" in proc.stderr
    assert "Traceback" not in proc.stderr


needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None,
    reason="the transformers engine needs torch and transformers in this Python: pip install -e '.[transformers]'",
)


@pytest.mark.slow
@needs_torch
def test_transformers_under_load_on_its_tiny_model(tmp_path):
    models = tmp_path / "models"
    made = orch("make-test-models", "--runtime", "transformers", "--only", "tiny-asr-a", "--out", str(models), cwd=REPO)
    if made.returncode != 0:
        pytest.skip(f"could not make the tiny transformers model: {made.stderr.strip()[-300:]}")
    proc = orch(
        "load", "--engine", "transformers", "--model", str(models / "tiny-asr-a"), "--audio", str(PHONE),
        "--concurrency", "2", "--workers", "2", "--requests", "4", "--no-history", "--json", "r.json",
        cwd=tmp_path,
    )  # fmt: skip
    lines = _accounted(proc, tmp_path, 4)
    assert "--max-new-tokens defaults to 32" in proc.stdout  # the engine's plan hook, as for `orch run`
    assert len({r["text"] for r in lines}) == 1  # greedy: one text for one audio, both workers


# where .ci/run puts the tiny models it makes (outside the engines' default folders)
CI_TINY = {"chatllm": ("ORCH_TINY_MODELS", "tiny-asr-a.bin"), "llamacpp": ("ORCH_TINY_LLAMACPP", "tiny-asr-a-f16.gguf")}


def _ci_tiny_model(engine: str) -> Path | None:
    env, name = CI_TINY.get(engine, ("", ""))
    folder = os.environ.get(env) if env else None
    return Path(folder) / name if folder and (Path(folder) / name).is_file() else None


@pytest.mark.slow
@pytest.mark.parametrize("engine", [n for n in engine_registry.NAMES if n != "calibration"])
def test_every_engine_under_load_on_its_found_tiny_model(engine, tmp_path):
    """Each engine on the tiny model `orch make-test-models --runtime E` made into its default
    folder (the registry's finder); skipped, saying why, where there is none or the engine's
    pre-flight (its runtime, its build) says it cannot run here."""
    spec = engine_registry.get(engine)
    model = _ci_tiny_model(engine) or spec.test_model("tiny-asr-a", "tiny")
    if model is None:
        pytest.skip(f"no tiny {engine} test model: orch make-test-models --runtime {engine}")
    plan, _notes = RunPlan.build(
        PlanInputs(strategies=["restart"], engine=engine, models=[str(model)], audio=str(PHONE))
    )
    problems = preflight(plan)
    if problems:
        pytest.skip(f"the {engine} engine cannot run here: {'; '.join(problems)}")
    proc = orch(
        "load", "--engine", engine, "--model", str(model), "--audio", str(PHONE), "--concurrency", "1",
        "--requests", "3", "--no-history", "--json", "r.json",
        cwd=tmp_path,
    )  # fmt: skip
    lines = _accounted(proc, tmp_path, 3)
    assert len({r["text"] for r in lines}) == 1
