"""The real engine: chatllm.cpp with tiny random-weight models, through every strategy.

Runs when a chatllm.cpp build is found (CHATLLM_DIR, else ./chatllm.cpp) and tiny models are
at hand (ORCH_TINY_MODELS, a folder made by `orch make-test-models`, else made here, which
needs torch); skips, saying which piece is missing, otherwise. The output text of a
random-weight model is garbage; load, inference, restart and memory paths are real.
"""

import os
import subprocess
from pathlib import Path

import pytest
from orchestrator.engines.chatllm.paths import resolve
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import REPO, SHARED

pytestmark = [pytest.mark.chatllm, pytest.mark.slow]

PATHS = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))


@pytest.fixture(scope="session")
def chatllm():
    missing = [
        what
        for what, path in (("checkout", PATHS.root), ("main", PATHS.main), ("libchatllm", PATHS.lib))
        if not os.path.exists(path)
    ]
    if missing:
        pytest.skip(
            f"chatllm.cpp not found ({', '.join(missing)} missing under {PATHS.root}); "
            "set CHATLLM_DIR to a built checkout"
        )
    return PATHS


@pytest.fixture(scope="session")
def tiny_models(chatllm, tmp_path_factory):
    folder = os.environ.get("ORCH_TINY_MODELS")
    if folder:
        out = Path(folder)
    else:
        out = tmp_path_factory.mktemp("tiny-models")
        proc = subprocess.run(
            ["orch", "make-test-models", "--chatllm-dir", chatllm.root, "--out", str(out)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            pytest.skip(
                "tiny models could not be made here (set ORCH_TINY_MODELS to a folder made by "
                f"`orch make-test-models`): {(proc.stderr or proc.stdout).strip()[-300:]}"
            )
    models = {name: out / f"{name}.bin" for name in ("tiny-asr-a", "tiny-asr-b", "tiny-aligner")}
    absent = [str(p) for p in models.values() if not p.exists()]
    if absent:
        pytest.skip(f"tiny models missing: {', '.join(absent)}")
    return models


def chatllm_plan(tmp_path, paths, strategies, models, scenario="asr", iters=4, audio="jfk.wav", **extra):
    return RunPlan(
        strategies=strategies,
        iters=iters,
        warmup=1,
        engine="chatllm",
        scenario=scenario,
        models=[str(m) for m in models],
        audio=str(SHARED / "samples" / audio),
        language="English",
        engine_options={
            "chatllm_dir": paths.root,
            "main": paths.main,
            "lib": paths.lib,
            "max_new_tokens": 24,
            "language": "English",
            "aligner": scenario == "align",
            **extra,
        },
        out_dir=tmp_path,
        iter_timeout=120,
        **({"transcript": str(SHARED / "samples" / "jfk.txt")} if scenario == "align" else {}),
    )


@pytest.mark.parametrize("strategy", ["restart", "fresh-process", "cli", "cli-interactive"])
def test_strategy_streams_and_is_sampled(tmp_path, chatllm, tiny_models, strategy):
    r = execute(chatllm_plan(tmp_path, chatllm, [strategy], [tiny_models["tiny-asr-a"]])).results[0]
    assert r.status == "ok", r.error
    assert len(r.iterations) == 4
    for it in r.iterations:
        assert it.rss_mb and it.rss_mb > 10
        assert it.tokens >= 2 and it.streamed, it
    assert r.summary.growth_ci95 is not None


def test_recreate_the_bindings_way_is_measured(tmp_path, chatllm, tiny_models):
    """Dropping a ChatLLM object does not free it (LibChatLLM keeps it): orch must run the
    strategy to the end and show the growth, whatever it is, with a CI."""
    r = execute(chatllm_plan(tmp_path, chatllm, ["recreate"], [tiny_models["tiny-asr-a"]], iters=4)).results[0]
    assert r.status == "ok", r.error
    assert r.summary.growth_mb_per_iter is not None


def test_recreate_destroy_reports_what_destroy_does(tmp_path, chatllm, tiny_models):
    """On the 2026-08 snapshot chatllm_destroy aborts: a crash with the signal named and the
    first iteration kept. On a fixed build it completes."""
    r = execute(chatllm_plan(tmp_path, chatllm, ["recreate-destroy"], [tiny_models["tiny-asr-a"]], iters=3)).results[0]
    if r.status == "crashed":
        assert "SIGABRT after iteration 1" in r.error
        assert [it.i for it in r.iterations] == [1]
    else:
        assert r.status == "ok", r.error
        assert len(r.iterations) == 3


def test_switch_and_align_finish(tmp_path, chatllm, tiny_models):
    sw = execute(
        chatllm_plan(
            tmp_path,
            chatllm,
            ["fresh-process", "cli"],
            [tiny_models["tiny-asr-a"], tiny_models["tiny-asr-b"]],
            scenario="switch",
            iters=2,
        )
    )
    for r in sw.results:
        assert r.status == "ok", r.error
        assert set(r.per_model) == {str(tiny_models["tiny-asr-a"]), str(tiny_models["tiny-asr-b"])}
    al = execute(
        chatllm_plan(tmp_path, chatllm, ["restart", "cli"], [tiny_models["tiny-aligner"]], scenario="align", iters=2)
    )
    for r in al.results:
        assert r.status == "ok", r.error
        assert all(it.alignment for it in r.iterations)
