"""`orch compare --engines`: each engine's test model found by its manifest (find_test_model,
EngineSpec.find_model), the command line's models and strategies, the runtime table and the
result's new blocks (orchestrator.commands.compare_engines, orchestrator.results.runtime_table)."""

import json

import pytest
from orchestrator.commands.compare_engines import chosen_strategies, parse_engines, parse_models
from orchestrator.engines import registry
from orchestrator.engines.chatllm.testmodels import find_test_model as chatllm_model
from orchestrator.engines.transformers.testmodels import find_test_model as transformers_model
from orchestrator.errors import CannotStart
from orchestrator.results.model import (
    HostLimits,
    IterationRecord,
    RunResult,
    RuntimeLimits,
    Status,
    StrategyResult,
    Summary,
    Verdict,
)
from orchestrator.results.runtime_table import RUNTIME_HEADERS, host_limits_line, runtime_notes, runtime_rows


def _manifest(folder, name, models):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"models": models}), encoding="utf-8")


def test_chatllm_finds_its_test_model_by_name_and_shape_in_its_default_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert chatllm_model("tiny-asr-a", "tiny") is None  # no manifest
    _manifest(tmp_path / "models" / "tiny", "tiny-models.json", {"tiny-asr-a": {"file": "tiny-asr-a.bin"}})
    assert chatllm_model("tiny-asr-a", "tiny") is None  # listed, but the file is not there
    (tmp_path / "models" / "tiny" / "tiny-asr-a.bin").write_bytes(b"x")
    assert chatllm_model("tiny-asr-a", "tiny") == tmp_path.joinpath("models/tiny/tiny-asr-a.bin").relative_to(tmp_path)
    assert chatllm_model("tiny-asr-b", "tiny") is None
    assert chatllm_model("tiny-asr-a", "full") is None  # full shape: models/full/full-shape-models.json
    _manifest(tmp_path / "models" / "full", "full-shape-models.json", {"shape-qwen3-asr-0.6b": {"file": "s.bin"}})
    (tmp_path / "models" / "full" / "s.bin").write_bytes(b"x")
    assert str(chatllm_model("shape-qwen3-asr-0.6b", "full")) == "models/full/s.bin"


def test_transformers_finds_its_test_folder_by_name_and_shape(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "models" / "tiny-transformers"
    _manifest(folder, "transformers-models.json", {"tiny-asr-a": {"folder": "tiny-asr-a"}})
    assert transformers_model("tiny-asr-a", "tiny") is None  # no config.json in it
    (folder / "tiny-asr-a").mkdir()
    (folder / "tiny-asr-a" / "config.json").write_text("{}")
    assert str(transformers_model("tiny-asr-a", "tiny")) == "models/tiny-transformers/tiny-asr-a"
    assert transformers_model("tiny-asr-a", "full") is None


def test_the_registry_names_each_engines_finder():
    assert registry.get("chatllm").find_model == "orchestrator.engines.chatllm.testmodels:find_test_model"
    assert registry.get("transformers").find_model == "orchestrator.engines.transformers.testmodels:find_test_model"
    assert registry.get("calibration").find_model is None
    assert registry.get("calibration").test_model("tiny-asr-a", "tiny") is None


def test_models_are_given_per_engine():
    assert parse_models(("chatllm=a.bin", "transformers=dir/b"), ["chatllm", "transformers"]) == {
        "chatllm": "a.bin",
        "transformers": "dir/b",
    }
    assert parse_models(("a.bin",), ["chatllm"]) == {"chatllm": "a.bin"}  # one engine: a bare path is its
    with pytest.raises(CannotStart) as err:
        parse_models(("a.bin", "chatllm=x", "chatllm=y", "transformers=z"), ["chatllm", "calibration"])
    assert err.value.problems == [
        "--model a.bin: with --engines say which engine it is for: --model ENGINE=PATH",
        "--model: two models for chatllm (x, y)",
        "--model transformers=z: transformers is not in --engines (chatllm, calibration)",
    ]


def test_engines_and_strategies_are_checked_before_anything_runs():
    assert parse_engines("chatllm, transformers") == ["chatllm", "transformers"]
    with pytest.raises(CannotStart, match="unknown engine nope"):
        parse_engines("chatllm,nope")
    with pytest.raises(CannotStart, match="chatllm given more than once"):
        parse_engines("chatllm,chatllm")
    # without --strategies: every strategy any engine runs, in the registry's order
    assert chosen_strategies(["transformers"], False, None) == (["restart", "recreate", "fresh-process"], False)
    assert chosen_strategies(["transformers", "chatllm"], True, None)[0][-1] == "cli-interactive"
    assert chosen_strategies(["chatllm"], False, "cli,restart,cli") == (["cli", "restart"], True)
    with pytest.raises(CannotStart, match="unknown strategy warm"):
        chosen_strategies(["chatllm"], False, "warm")
    with pytest.raises(CannotStart, match="not both"):
        chosen_strategies(["chatllm"], True, "restart")


def _result():
    its = [IterationRecord(i=1, warmup=True, rss_mb=90.0, tokens_per_s=1.0)] + [
        IterationRecord(i=k, rss_mb=rss, tokens_per_s=tps, streamed=True) for k, rss, tps in ((2, 100.0, 40.0), (3, 104.0, 50.0), (4, 102.0, 60.0))
    ]
    summary = Summary(
        iters_ok=4, ttft_ms_median=250.04, rtf_median=0.12345, load_ms_median=812.26, rss_peak_mb=120.55,
        growth_mb_per_iter=0.0123, growth_ci95=[-0.001, 0.0251], verdict=Verdict.STABLE, text_stable=True,
    )  # fmt: skip
    ok = StrategyResult("restart", iterations=its, summary=summary, engine="chatllm")
    ok.limits = RuntimeLimits(
        precision="q8_0", decode_limit_tok_s=958.2123, decode_pct=5.2181, encode_prefill_gflops=0.5969, encode_prefill_pct=0.5971
    )
    burst = StrategyResult(
        "restart",
        iterations=[IterationRecord(i=1, streamed=False, tokens_per_s=9e6, rss_mb=500.0)],
        summary=Summary(iters_ok=1, ttft_ms_median=900.0),
        engine="onnx",
        limits=RuntimeLimits(decode_limit_tok_s=100.0, note="no streamed tok/s"),
    )
    missing = StrategyResult("-", status=Status.ERROR, error="no tiny test model tiny-asr-a for transformers", engine="transformers")
    host = {"hostname": "h", "limits": HostLimits(threads=2, bandwidth_gb_s=10.0, copy_mb=512, matmul_gflops=100.0, matmul_n=2048, repeats=5, blas="openblas").to_json()}
    return RunResult("r1", host=host, engine={"name": "chatllm,onnx,transformers"}, results=[ok, burst, missing])


def test_the_runtime_table_rows():
    assert RUNTIME_HEADERS[:3] == ["engine", "strategy", "status"] and len(RUNTIME_HEADERS) == 19 and RUNTIME_HEADERS[-1] == "core-h/audio-h"
    rows = runtime_rows(_result())
    assert rows[0] == [
        "chatllm", "restart", "ok", 812.3, 250.0, 0.123, 50.0, 120.5, 102.0, 0.012, "[-0.001, 0.025]",
        "stable", "stable", "yes", 958.2, 5.2, 0.6, 0.6, None,
    ]  # fmt: skip
    # the burst: a TTFT, no tok/s (a burst's is no decode speed), so no % of limit
    assert rows[1][:8] == ["onnx", "restart", "ok", None, 900.0, None, None, None]
    assert rows[1][13:16] == ["no", 100.0, None]
    assert rows[2][:3] == ["transformers", "-", "error"] and set(rows[2][3:]) == {None}


def test_the_lines_under_the_table():
    result = _result()
    assert host_limits_line(result.host_limits) == (
        "host limits: memory bandwidth 10.0 GB/s (a 512 MB copy, best of 5), matrix multiply 100.0 GFLOP/s "
        "(float32 2048², 2 thread(s), openblas)"
    )
    assert host_limits_line(None) == "host limits: not measured (--no-limits)"
    assert runtime_notes(result) == [
        "onnx restart: % of limit: no streamed tok/s",
        "transformers -: error: no tiny test model tiny-asr-a for transformers",
    ]


def test_engine_limits_and_host_limits_survive_json():
    result = _result()
    back = RunResult.from_json(json.loads(json.dumps(result.to_json())))
    assert back.host_limits == result.host_limits and back.host_limits.schema == "orch.host-limits/1"
    assert [(e.engine, e.limits) for e in back.results] == [(e.engine, e.limits) for e in result.results]
    plain = StrategyResult("restart").to_json()
    assert "engine" not in plain and "limits" not in plain  # only a comparison of engines writes them
    assert RunResult("r2").host_limits is None
