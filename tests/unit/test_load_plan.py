"""`orch load`'s plan is `orch run`'s: for every registered engine and both serving strategies,
the load worker's configuration (LoadPlan.build) equals the run worker's
(run/worker_config.build from RunPlan.build) for the same options, except the serve mode; and
both decode greedily unless asked, which the load result records."""

from __future__ import annotations

import dataclasses

import pytest
from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.load.plan import LoadInputs, LoadPlan
from orchestrator.run import worker_config
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs
from workers import protocol

SERVE_STRATEGIES = ("restart", "fresh-process")


def _some_options(engine: str) -> dict:
    """A value other than the default for each integer option the user sets (threads, ...)."""
    out = {}
    for name, meta in fields.metas(engine_registry.get(engine).options):
        if meta.settable and meta.kind == "integer":
            out[name] = int(meta.low or 0) + 3
    return out


@pytest.mark.parametrize("engine", engine_registry.NAMES)
@pytest.mark.parametrize("strategy", SERVE_STRATEGIES)
def test_the_load_worker_is_told_what_the_run_worker_is_told(engine, strategy, tmp_path):
    model, audio = str(tmp_path / "model"), str(tmp_path / "a.wav")
    options = _some_options(engine)
    assert options, f"the {engine} engine has no integer option to set"
    load, _notes = LoadPlan.build(
        LoadInputs(
            engine=engine,
            strategy=strategy,
            model=model,
            language="English",
            engine_options=options,
            audio=[(audio, 1.0)],
            run_dir=tmp_path,
        )
    )
    run, _ = RunPlan.build(
        PlanInputs(
            strategies=[strategy],
            engine=engine,
            models=[model],
            audio=audio,
            language="English",
            engine_options=options,
        )
    )
    served = load.pool.worker_config
    assert isinstance(served, protocol.WorkerConfig) and served.serve
    assert dataclasses.replace(served, serve=False) == worker_config.build(run, strategy)
    assert served.engine_options["decoding"] == "greedy"
    assert {k: served.engine_options[k] for k in options} == options
    assert load.describe()["decoding"] == "greedy"  # load.json's plan block records it


def test_the_worker_config_crosses_the_pipe_unchanged():
    plan = RunPlan(strategies=["restart"], models=["m:5"], audio="a.wav", language="English")
    config = dataclasses.replace(worker_config.build(plan, "restart"), inputs=({"audio": "b.wav"},), first_i=3)
    assert protocol.WorkerConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"v": 3, "strategy": "restart", "engine": "e", "engine_class": "m:C"}', "lacks engine_options"),
        ('{"v": 2, "strategy": "restart"}', "protocol version is not 3"),
        (
            '{"v": 3, "strategy": "restart", "engine": "e", "engine_class": "m:C", "engine_options": {}, "iters": "2"}',
            "iters is not int",
        ),
        (
            '{"v": 3, "strategy": "r", "engine": "e", "engine_class": "m:C", "engine_options": {}, "itres": 2}',
            "unknown field(s) itres",
        ),
    ],
)
def test_a_bad_worker_config_is_named(text, why):
    with pytest.raises(protocol.ProtocolError, match=why.replace("(", r"\(").replace(")", r"\)")):
        protocol.WorkerConfig.from_json(text)
