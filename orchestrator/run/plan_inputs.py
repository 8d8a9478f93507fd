"""What the user gave for a run — from the command line or from a soak config cell — and
the one function that turns it into a `RunPlan`: defaults from RunPlan's fields, the
engine's options typed by its registry entry's hook (chatllm.cpp's paths resolved, the
language guessed, test models bounded), and notes on what was decided for the user, returned rather than printed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.engines import registry as engine_registry
from orchestrator.results.model import Thresholds
from orchestrator.run import memory_guard

if TYPE_CHECKING:  # a type only: plan.py imports this module (RunPlan.build), not the other way
    from orchestrator.run.plan import RunPlan


@dataclass
class PlanInputs:
    """None: not given (RunPlan's default applies)."""

    strategies: list[str]
    iters: int | None = None
    warmup: int | None = None
    engine: str | None = None
    scenario: str | None = None
    decoding: str | None = None  # greedy | sampled (engines/decoding.py)
    models: list[str] = field(default_factory=list)
    audio: str | None = None
    reference: str | None = None
    transcript: str | None = None
    language: str | None = None
    out_dir: Path | None = None
    iter_timeout: float | None = None
    sample_hz: float | None = None
    growth_threshold_mb: float | None = None
    plateau_min_tail: int | None = None
    json_path: Path | None = None
    # None: the default share of available memory; 0: no guard
    max_rss_mb: float | None = None
    # the share of a resource's limit (threads, fds, maps) at which a worker is stopped;
    # None: RunPlan's default; 0: no guard
    resource_guard: float | None = None
    idle_s: float | None = None
    # the engine's options by name (its options dataclass's fields); for chatllm also
    # chatllm_dir, main, lib as given (resolved by its plan hook)
    engine_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    # beyond the workers' allow list: name -> value, or None for orch's own value
    worker_env: dict[str, str | None] = field(default_factory=dict)


def plan_from_inputs(cls: type[RunPlan], given: PlanInputs) -> tuple[RunPlan, list[str]]:
    """RunPlan.build's body: `cls` is RunPlan (passed in, so this module needs plan.py only
    for its types)."""
    notes: list[str] = []
    d = cls(strategies=[])  # RunPlan's own defaults
    th = Thresholds(
        growth_mb_per_iter=_or(given.growth_threshold_mb, Thresholds.growth_mb_per_iter),
        plateau_min_tail=_or(given.plateau_min_tail, Thresholds.plateau_min_tail),
    )
    engine = given.engine or d.engine
    plan = cls(
        strategies=list(given.strategies),
        iters=_or(given.iters, d.iters),
        warmup=_or(given.warmup, d.warmup),
        engine=engine,
        scenario=given.scenario or d.scenario,
        decoding=given.decoding or d.decoding,
        models=list(given.models),
        audio=given.audio,
        reference=given.reference,
        transcript=given.transcript,
        language=given.language,
        out_dir=Path(given.out_dir or d.out_dir),
        iter_timeout=_or(given.iter_timeout, d.iter_timeout),
        sample_hz=_or(given.sample_hz, d.sample_hz),
        idle_s=_or(given.idle_s, d.idle_s),
        thresholds=th,
        json_path=given.json_path,
        progress=given.progress,
        worker_env=dict(given.worker_env),
        resource_guard=_or(given.resource_guard, d.resource_guard),
    )
    spec = engine_registry.REGISTRY.get(engine)
    if spec is not None:
        # the engine's own hook sets what the plan decides (paths, language, test-model bounds)
        plan.engine_options = spec.plan_options(plan, given.engine_options, notes)
    else:  # validate() names the engine
        plan.engine_options = dict(given.engine_options)
    if given.max_rss_mb is None:  # the documented share of what is available now
        plan.max_rss_mb = float(round(memory_guard.default_limit_mb()))
    else:
        plan.max_rss_mb = given.max_rss_mb or None
    if plan.warmup >= plan.iters:
        notes.append(f"--warmup {plan.warmup} >= --iters {plan.iters}: no iteration is left for the statistics")
    return plan, notes


def _or(value, default):
    return default if value is None else value
