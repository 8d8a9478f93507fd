"""What the user gave for a run — from the command line or from a soak config cell — and
the one function that turns it into a `RunPlan`: defaults from RunPlan's fields, the
engine's options typed by its registry entry's hook (chatllm.cpp's paths resolved, the
language guessed, test models bounded), and notes on what was decided for the user, returned rather than printed."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engines import options as eo
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart
from orchestrator.run import memory_guard
from orchestrator.run.plan import RunPlan, Thresholds


@dataclass
class PlanInputs:
    """None: not given (RunPlan's default applies)."""

    strategies: list[str]
    iters: int | None = None
    warmup: int | None = None
    engine: str | None = None
    scenario: str | None = None
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
    idle_s: float | None = None
    # the engine's options by name (its options dataclass's fields); for chatllm also
    # chatllm_dir, main, lib as given (resolved by its plan hook)
    engine_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = False
    # beyond the workers' allow list: name -> value, or None for orch's own value
    worker_env: dict[str, str | None] = field(default_factory=dict)


def build_plan(cls: type[RunPlan], given: PlanInputs) -> tuple[RunPlan, list[str]]:
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


def typed_options(plan: RunPlan, engine: str, values: dict[str, Any]) -> eo.EngineOptions:
    """The engine's options, typed; one that is wrong is left out and named in
    plan.option_problems (validate() reports it with every other problem)."""
    good = {}
    for key, value in values.items():
        try:
            eo.from_mapping(engine, {key: value})
        except CannotStart as exc:
            plan.option_problems += exc.problems
        else:
            good[key] = value
    return eo.from_mapping(engine, good)


def guess_language(plan: RunPlan) -> tuple[str, str]:
    """(language, why) when --language is not given: Chinese when the reference transcript
    has CJK characters or the audio file's name says zh/cn/... (`phone-zh.wav`: a digits-only
    reference says nothing), else English."""
    from orchestrator.quality.pipeline import CHINESE_NAMES
    from orchestrator.quality.scoring import has_cjk

    ref = plan.reference or (os.path.splitext(plan.audio)[0] + ".txt" if plan.audio else None)
    try:
        text = open(ref, encoding="utf-8").read() if ref else ""
    except (OSError, ValueError):  # preflight names it (UnicodeDecodeError is a ValueError)
        text = ""
    if has_cjk(text):
        return "Chinese", f"the reference {ref} is Chinese"
    stem = os.path.splitext(os.path.basename(plan.audio or ""))[0].lower()
    parts = set(re.split(r"[^a-z]+", stem))
    if parts & (CHINESE_NAMES | {"cn"}):
        return "Chinese", f"the audio file's name ({stem})"
    return "English", "no sign of Chinese in the reference or the file name"
