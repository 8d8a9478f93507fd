"""Engine options are declared once per engine (orchestrator/engines/<name>/options.py): the
command line's flags, soak's schema, the worker's arguments and the defaults all come from
that dataclass (issue 19: they were declared five times and a soak config refused
decoy_mb/churn_mb)."""

from __future__ import annotations

import pytest
from orchestrator.commands.run import run as run_command
from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.calibration.options import TRANSCRIPT, CalibrationOptions
from orchestrator.engines.chatllm.options import ChatLLMOptions
from orchestrator.studies import soak
from workers.engines import calibration as calibration_worker

# a value of each kind that the options accept
SAMPLE = {
    "number": 2.5,
    "integer": 3,
    "flag": True,
    "text": "some text",
    "texts": ["a", "b"],
    "path": "/some/path",
    "args": ["--seed", "1"],
}


def _run_flags_by_field() -> dict[str, list[str]]:
    """engine -> the fields `orch run` has a flag for, read from the command itself."""
    params = {p.name for p in run_command.params}
    return {
        name: [f for f, meta in fields.metas(spec.options) if meta.param_name in params]
        for name, spec in engine_registry.REGISTRY.items()
    }


def test_run_has_a_flag_for_every_option_with_one():
    flags = _run_flags_by_field()
    assert flags["calibration"] == [
        "ttft_ms",
        "token_ms",
        "leak_mb",
        "leak_on_load_mb",
        "leak_threads",
        "leak_fds",
        "leak_maps",
        "leak_models",
        "model_mb",
        "load_ms",
        "crash_at",
        "hang_at",
        "drift_at",
        "drift_mode",
        "cache_speedup",
        "encode_ms_per_s",
        "audio_tokens_per_s",
        "trim_after_unload",
    ]
    assert flags["chatllm"] == [
        "chatllm_dir",
        "main",
        "lib",
        "threads",
        "ctx",
        "max_new_tokens",
        "trim_after_unload",
        "ttft_phases",
        "engine_args",
    ]


@pytest.mark.parametrize("engine", ["calibration", "chatllm"])
def test_a_soak_config_accepts_every_option_run_accepts(engine):
    spec = engine_registry.get(engine)
    kinds = dict(fields.metas(spec.options))
    accepted = []
    for key in fields.settable_keys(spec.options):
        cfg = {"engine": engine, "strategies": ["restart"], "engine_options": {key: SAMPLE[kinds[key].kind]}}
        assert soak.validate_config(cfg) == [], key
        accepted.append(key)
    assert set(_run_flags_by_field()[engine]) <= set(accepted)
    if engine == "calibration":
        assert {"decoy_mb", "churn_mb", "transcript"} <= set(accepted)


def test_a_soak_cells_options_reach_the_worker(tmp_path):
    cfg = {"name": "t", "_path": str(tmp_path / "c.toml"), "out": str(tmp_path)}
    cell = {"strategies": ["restart"], "engine_options": {"decoy_mb": 4, "churn_mb": 2, "leak_mb": 1}}
    assert soak.validate_config({**cell}) == []
    plan, _notes = soak.cell_plan(cfg, cell)
    sent = plan.engine_options.to_worker()
    assert (sent["decoy_mb"], sent["churn_mb"], sent["leak_mb"], sent["ttft_ms"]) == (4, 2, 1, 50.0)


def test_soak_names_a_bad_value_and_an_option_of_the_other_engine():
    cfg = {"strategies": ["restart"], "matrix": [{"engine_options": {"decoy_mb": -1, "threads": 2}}]}
    assert soak.validate_config(cfg) == [
        "[[matrix]] #1: engine_options.decoy_mb must be a number >= 0, not -1",
        "[[matrix]] #1: engine_options.threads is an option of the chatllm engine, not of calibration",
    ]
    both = {"engine": "chatllm", "strategies": ["restart"], "engine_options": {"trim_after_unload": True}}
    assert soak.validate_config(both) == []  # an option both engines have


def test_the_worker_gets_every_option_with_the_defaults_filled_in():
    assert CalibrationOptions(leak_mb=2).to_worker() == {
        "ttft_ms": 50.0,
        "token_ms": 10.0,
        "leak_mb": 2,
        "leak_on_load_mb": 0.0,
        "leak_threads": 0,
        "leak_fds": 0,
        "leak_maps": 0,
        "leak_models": None,
        "decoy_mb": 0.0,
        "churn_mb": 0.0,
        "model_mb": 16.0,
        "load_ms": 0.0,
        "crash_at": None,
        "hang_at": None,
        "transcript": TRANSCRIPT,
        "drift_at": None,
        "drift_mode": "text",
        "cache_speedup": None,
        "encode_ms_per_s": 0.0,
        "audio_tokens_per_s": 0.0,
        "trim_after_unload": None,
    }
    sent = ChatLLMOptions().to_worker()
    assert (sent["chatllm_dir"], sent["ttft_phases"], sent["engine_args"], sent["threads"]) == (
        "./chatllm.cpp",
        True,
        [],
        None,
    )


def test_describe_records_what_was_given_as_before():
    assert CalibrationOptions(leak_mb=2).describe() == {"leak_mb": 2}
    assert ChatLLMOptions(threads=2).describe() == {
        "chatllm_dir": "./chatllm.cpp",
        "aligner": False,
        "threads": 2,
        "engine_args": [],
    }


def test_the_calibration_worker_keeps_the_parents_names_and_no_defaults():
    parent = set(fields.known_keys(CalibrationOptions)) - {"trim_after_unload"}  # the worker loop's
    assert set(calibration_worker.OPTIONS) == parent
    assert not hasattr(calibration_worker, "DEFAULTS")
    engine = calibration_worker.CalibrationEngine(CalibrationOptions().to_worker())
    assert engine.info()["options"]["ttft_ms"] == 50.0
    with pytest.raises(calibration_worker.EngineError, match="lack transcript, ttft_ms"):
        calibration_worker.CalibrationModel({})


def test_engine_choices_are_the_registry():
    engine = next(p for p in run_command.params if p.name == "engine")
    assert list(engine.type.choices) == list(engine_registry.NAMES) == ["calibration", "chatllm", "transformers", "onnx", "openvino", "crispasr", "llamacpp"]


def test_chatllm_dir_default_is_written_once():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    hits = [
        str(p.relative_to(root))
        for p in sorted((root / "orchestrator").rglob("*.py")) + sorted((root / "workers").rglob("*.py"))
        if '"./chatllm.cpp"' in p.read_text(encoding="utf-8")
    ]
    assert hits == ["orchestrator/engines/chatllm/options.py"]


def test_the_growth_threshold_default_is_set_once():
    from orchestrator.history.baseline import Settings
    from orchestrator.results.model import GROWTH_THRESHOLD_MB, Thresholds

    growth = next(p for p in run_command.params if p.name == "growth_threshold_mb")
    assert Thresholds().growth_mb_per_iter == Settings().growth_threshold_mb == growth.default == GROWTH_THRESHOLD_MB
    assert soak.settings_from({}, None, None, None, accept=False).compare.growth_threshold_mb == GROWTH_THRESHOLD_MB


def test_an_engine_like_transformers_fits_an_engine_spec():
    """The next issue's engine (workers/engines/transformers.py on branch i21t): a model folder,
    threads, max_new_tokens, dtype; restart, recreate, fresh-process; no command-line program."""
    from dataclasses import dataclass

    from orchestrator.engines.fields import option

    @dataclass(frozen=True)
    class TransformersOptions:
        model_dir: str | None = option("path", flag="--model-dir", help="transformers: model folder.")
        threads: int | None = option("integer", low=1, flag="--threads", help="threads.")
        max_new_tokens: int | None = option("integer", low=1, default=256, flag="--max-new-tokens", help="bound.")
        dtype: str | None = option("text", default="float32", flag="--dtype", help="transformers: dtype.")

    spec = engine_registry.EngineSpec(
        "transformers",
        "Hugging Face transformers",
        TransformersOptions,
        "workers.engines.transformers:TransformersEngine",
        ("restart", "recreate", "fresh-process"),
    )
    assert fields.to_worker(TransformersOptions(threads=2)) == {
        "model_dir": None,
        "threads": 2,
        "max_new_tokens": 256,
        "dtype": "float32",
    }
    assert fields.problems(TransformersOptions(threads=0)) == ["threads must be an integer >= 1, not 0"]
    assert [spec.runs(s) for s in ("restart", "cli")] == [True, False]
    assert len(fields.click_options([TransformersOptions])) == 4
