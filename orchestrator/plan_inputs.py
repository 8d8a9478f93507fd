"""What the user gave for a run — from the command line or from a soak config cell — and
the one function that turns it into a `RunPlan`: defaults from RunPlan's fields, the
engine's options typed (chatllm.cpp's paths resolved, its language guessed, test models
bounded), and notes on what was decided for the user, returned rather than printed."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator import engine_options as eo
from orchestrator import memory_guard
from orchestrator.chatllm_model import (
    TEST_MODEL_MAX_NEW_TOKENS,
    ModelFileError,
    is_test_model,
    random_model_kind,
    read_meta,
)
from orchestrator.plan import RunPlan, Thresholds


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
    # the engine's options by name (engine_options.CalibrationOptions / ChatLLMOptions);
    # for chatllm also chatllm_dir, main, lib as given (resolved here)
    engine_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = False


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
        engine_options={} if engine == "chatllm" else dict(given.engine_options),
    )
    if engine == "chatllm":
        plan.engine_options = _chatllm_options(plan, given.engine_options, notes)
    if given.max_rss_mb is None:  # the documented share of what is available now
        plan.max_rss_mb = float(round(memory_guard.default_limit_mb()))
    else:
        plan.max_rss_mb = given.max_rss_mb or None
    if plan.warmup >= plan.iters:
        notes.append(f"--warmup {plan.warmup} >= --iters {plan.iters}: no iteration is left for the statistics")
    return plan, notes


def _or(value, default):
    return default if value is None else value


def _chatllm_options(plan: RunPlan, given: dict[str, Any], notes: list[str]) -> eo.ChatLLMOptions:
    from orchestrator.chatllm_paths import resolve  # only the chatllm engine needs it

    values = dict(given)
    paths = resolve(values.pop("chatllm_dir", None), values.pop("main", None), values.pop("lib", None))
    values.update(
        chatllm_dir=paths.root,
        main=paths.main,
        lib=paths.lib,
        commit=checkout_commit(paths.root),
        aligner=plan.scenario == "align",
    )
    if plan.scenario != "align":
        # Qwen3-ASR needs a language, else it may answer `language None` and no text
        if not plan.language:
            plan.language, why = guess_language(plan)
            notes.append(f"--language not given: {plan.language} ({why})")
        values["language"] = plan.language
    for model, kind in random_models(plan.models):
        notes.append(f"{os.path.basename(model)}: {kind} (its transcripts and CER say nothing of the real model)")
    if values.get("max_new_tokens") is None and any_test_model(plan.models):
        # random weights rarely emit the end token: unbounded, every request runs to the context limit
        values["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        notes.append(f"test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}")
    options = eo.from_mapping("chatllm", {k: v for k, v in values.items() if v is not None})
    assert isinstance(options, eo.ChatLLMOptions)
    return options


def random_models(models) -> list[tuple[str, str]]:
    """(model, "test model, random weights[, full shape]") for each one orch made."""
    out = []
    for m in models:
        try:
            kind = random_model_kind(read_meta(m))
        except (ModelFileError, ValueError, OSError):
            continue  # preflight names it
        if kind:
            out.append((m, kind))
    return out


def any_test_model(models) -> bool:
    for m in models:
        try:
            if is_test_model(read_meta(m)):
                return True
        except (ModelFileError, ValueError, OSError):
            pass  # preflight names it
    return False


def checkout_commit(root: str) -> str | None:
    """The checkout's commit (12 digits); in an orch image, which keeps no git metadata, the
    commit its build recorded."""
    from orchestrator.image_identity import commit_for

    try:
        out = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return commit_for(root)
    return out.stdout.strip() or commit_for(root)


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
