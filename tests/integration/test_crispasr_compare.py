"""`orch compare --all --engine crispasr` end to end on a tiny random-weight GGUF file made by
`orch make-test-models --runtime crispasr`: the real command line, the real workers (one per
strategy), the exit code. Needs the crispasr wheel, the converter's packages and a CrispASR
checkout (CRISPASR_SRC); skips, saying which, otherwise."""

import json
import os
import subprocess
import sys

import pytest

from crispasr_models import skip_unless_ready

skip_unless_ready()

from conftest import REPO  # noqa: E402

pytestmark = pytest.mark.slow

PHONE = REPO / "samples" / "phone-zh.wav"
ITERS = 4


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    """orch as the user runs it, with this interpreter and this checkout's code."""
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    out = tmp_path_factory.getbasetemp() / "crispasr-tiny"  # the engine tests' model, if they made it
    made = orch("make-test-models", "--runtime", "crispasr", "--only", "tiny-asr-a", "--out", str(out), cwd=REPO)
    assert made.returncode == 0, made.stderr
    target = out / "tiny-asr-a-f16.gguf"
    assert f"{target}: " in made.stdout
    return target


def test_make_test_models_refuses_a_quantised_file_with_the_reason(tmp_path):
    proc = orch("make-test-models", "--runtime", "crispasr", "--quant", "q4_0", "--out", str(tmp_path), cwd=tmp_path)
    assert proc.returncode == 2
    assert "the crispasr wheel ships no quantizer" in proc.stderr and "crispasr-quantize" in proc.stderr


def test_compare_all_runs_every_strategy_the_engine_has(tiny_file, tmp_path):
    proc = orch(
        "compare", "--all", "--engine", "crispasr", "--model", str(tiny_file), "--audio", str(PHONE),
        "--iters", str(ITERS), "--warmup", "1", "--threads", "2", "--no-history",
        "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    assert "test model (random weights): --max-new-tokens defaults to 32" in proc.stderr
    run = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "crispasr" and run["engine"]["decoding"] == "greedy"
    assert run["engine"]["max_new_tokens"] == 32 and run["engine"]["threads"] == 2
    assert run["engine"]["runtime"].startswith("crispasr 0.8.")
    results = {r["strategy"]: r for r in run["results"]}
    assert list(results) == ["restart", "recreate", "fresh-process"]
    texts = set()
    for name, r in results.items():
        assert r["status"] == "ok", (name, r["error"])
        assert r["summary"]["iters_ok"] == ITERS
        assert r["summary"]["verdict"] in ("stable", "plateau", "growing", "shrinking"), name
        assert r["summary"]["growth_ci95"] is not None
        for it in r["iterations"]:
            assert it["streamed"] is False and it["tokens_per_s"] is None, name
            assert it["ttft_ms"] == pytest.approx(it["latency_ms"]), name
        texts |= {it["text_raw"] for it in r["iterations"]}
    # greedy decoding of the same weights and audio: one text, every iteration of every strategy
    assert len(texts) == 1 and texts != {""}
