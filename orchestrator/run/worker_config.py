"""The one place a worker's configuration is made: `build(plan, strategy)` turns a RunPlan
(built by RunPlan.build, the engine's hooks having typed its options) into the typed
`workers.protocol.WorkerConfig` every command sends — run, compare, compare --engines,
attribute, soak's run and load cells, ab, transcribe and orch load (long-lived and
fresh-process, `serve=True`). What differs per worker (which iterations, `orch transcribe`'s
inputs) is set on the result with `dataclasses.replace`, never built again."""

from __future__ import annotations

from typing import Any

from workers import protocol

from orchestrator.engines import registry as engine_registry
from orchestrator.run import strategies
from orchestrator.run.plan import RunPlan


def build(plan: RunPlan, strategy: str, serve: bool = False) -> protocol.WorkerConfig:
    """What the worker of `strategy` is told (JSON on its command line: the child never
    imports the parent's code). `serve`: orch load's serve mode."""
    one_process = strategies.get(strategy).processes is strategies.Processes.ONE
    return protocol.WorkerConfig(
        strategy=strategy,
        engine=plan.engine,
        engine_class=engine_registry.get(plan.engine).worker,
        engine_options={**plan.engine_options.to_worker(), **decoding_options(plan.engine, plan.decoding)},
        scenario=plan.scenario,
        models=tuple(plan.models),
        audio=plan.audio,
        transcript=plan.transcript_text(),
        language=plan.language,
        # a worker per iteration, or one serving requests, has no rest after its requests to look at
        idle_s=plan.idle_s if one_process and not serve else 0.0,
        serve=serve,
    )


def decoding_options(engine: str, decoding: str) -> dict[str, Any]:
    """What the engine's worker is given for `decoding`, beside its other options: `decoding`
    itself (most engines read it), and what the engine's registry entry adds for it
    (`EngineSpec.decoding_options`: chatllm.cpp gets `decoding_args` on its command line,
    before the user's --engine-arg, which come last, and so win)."""
    spec = engine_registry.REGISTRY.get(engine)
    extra = spec.decoding_options.get(decoding, {}) if spec is not None else {}
    return {"decoding": decoding, **{k: list(v) if isinstance(v, list) else v for k, v in extra.items()}}


def engine_block(plan: RunPlan) -> dict[str, Any]:
    """The result's `engine` block: the engine's name, its options and its decoding, as given."""
    return {"name": plan.engine, **plan.engine_options.describe(), **decoding_options(plan.engine, plan.decoding)}
