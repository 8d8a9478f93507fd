"""`execute(plan)`: runs every strategy of a plan, one after another, each in its own
worker process(es), and returns the run's `RunResult` (schema in orchestrator.results.model),
which is also written to `<out>/<run-id>/run.json` (and `plan.json_path`) — after every
strategy, so an interrupted run still leaves a valid file."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path

from orchestrator.engines import decoding, image_identity
from orchestrator.engines import registry as engine_registry
from orchestrator.quality import pipeline
from orchestrator.results import alignment, analysis, drift
from orchestrator.results.atomic import write_json_atomic
from orchestrator.results.model import RunResult, Status, StrategyResult
from orchestrator.run import hostinfo, procfs, strategies, worker_env
from orchestrator.run.plan import RunPlan
from orchestrator.run.strategy_runner import StrategyRunner


class RunInterrupted(Exception):
    """Ctrl-C: the result so far has been written; carries it."""

    def __init__(self, result: RunResult):
        super().__init__("interrupted")
        self.result = result


def not_applicable(plan: RunPlan, strategy: str) -> str | None:
    """Why a strategy cannot run this scenario, or None (strategies registry)."""
    return strategies.get(strategy).not_applicable(plan.scenario)


def worker_config(plan: RunPlan, strategy: str) -> dict:
    """What the worker is told (JSON: the child never imports the parent's code)."""
    return {
        "strategy": strategy,
        "engine": plan.engine,
        "engine_class": engine_registry.get(plan.engine).worker,
        "engine_options": {**plan.engine_options.to_worker(), **decoding.worker_options(plan.engine, plan.decoding)},
        "scenario": plan.scenario,
        "models": list(plan.models),
        "audio": plan.audio,
        "transcript": plan.transcript_text(),
        "language": plan.language,
        # a worker per iteration has no rest after its requests to look at
        "idle_s": plan.idle_s if strategies.get(strategy).processes is strategies.Processes.ONE else 0,
    }


def _scorer(plan: RunPlan, audio_s: float | None):
    """What is computed from each output: word-timing checks for the aligner, else the
    quality pipeline for this run's language and reference. Built before any worker starts
    (its set-up must not land inside a measured iteration)."""
    if plan.scenario == "align":
        transcript = plan.transcript_text() or ""  # preflight refuses an align run without one
        return lambda text: {"alignment": alignment.check(text, transcript, audio_s)}
    reference_file = plan.reference_file  # the sidecar X.txt when none is given; run.json records it
    reference = Path(reference_file).read_text(encoding="utf-8").strip() if reference_file else None
    language = plan.scoring_language()
    pipeline.process_transcript("", language, reference)  # warm up its dictionaries

    def score(text_raw: str) -> dict:
        out = pipeline.process_transcript(text_raw, language, reference)
        out.pop("text_raw", None)
        return out

    return score


def save(plan: RunPlan, result: RunResult) -> None:
    """run.json in the run's folder (and at plan.json_path): after every strategy, and after
    attribution adds its blocks."""
    data = result.to_json()
    write_json_atomic(plan.run_dir / "run.json", data)
    if plan.json_path:
        write_json_atomic(plan.json_path, data)


def _summarize(entry: StrategyResult, plan: RunPlan, scored: bool) -> None:
    its = entry.iterations
    entry.summary = analysis.summarize(its, plan.thresholds)
    if plan.scenario == "switch":
        entry.per_model = analysis.per_model(its)
    if plan.scenario == "align":
        entry.alignment = analysis.alignment_summary(its)
    elif scored:
        analysis.add_quality(entry.summary, its)
    audio_s = plan.audio_s
    if entry.summary.growth_mb_per_iter is not None and audio_s:
        entry.summary.growth_mb_per_audio_s = entry.summary.growth_mb_per_iter / audio_s
    analysis.add_cpu_cost(entry.summary, its, audio_s)
    analysis.add_resource_limits(entry.summary, procfs.resource_limits())
    drift.summarize(entry.summary, its, plan.decoding)
    if entry.status is Status.MEMORY_LIMIT:
        entry.summary.projected_rss_mb = analysis.project_rss(its, plan.iters, entry.summary.growth_mb_per_iter)


def _run_strategy(
    plan: RunPlan, strategy: str, audio_s, scorer, progress_factory, env: dict[str, str]
) -> StrategyResult:
    reason = not_applicable(plan, strategy)
    if reason:
        return StrategyResult(
            strategy=strategy, scenario=plan.scenario, model=plan.model_label(), status=Status.SKIPPED, error=reason
        )
    progress = progress_factory(strategy) if progress_factory else None
    try:
        runner = StrategyRunner(
            plan, strategy, worker_config(plan, strategy), audio_s, scorer=scorer, progress=progress, env=env
        )
        entry = runner.run()
    finally:
        if progress and hasattr(progress, "close"):
            progress.close()
    try:
        _summarize(entry, plan, scorer is not None)
    except Exception as exc:  # a bug in the analysis must not cost the measurements
        entry.status = Status.ERROR
        entry.error = f"orch error summarizing {strategy}: {type(exc).__name__}: {exc}"
    return entry


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def execute(
    plan: RunPlan, progress_factory=None, on_strategy_done: Callable[[StrategyResult], None] | None = None
) -> RunResult:
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    audio_s = plan.audio_s
    env = worker_env.build(plan.worker_env)  # once: every worker of the run gets this, as recorded
    result = RunResult(
        run_id=plan.run_id,
        started_at=_now(),
        host=hostinfo.host_facts(),
        # inside an orch image, which image (orchestrator/engines/image_identity.py)
        engine={**decoding.engine_block(plan), **image_identity.engine_fields()},
        plan=plan.describe(audio_s),
        environment=env.record,
    )
    scorer = _scorer(plan, audio_s)
    interrupted = False
    try:
        for strategy in plan.strategies:
            entry = _run_strategy(plan, strategy, audio_s, scorer, progress_factory, env.environ)
            result.results.append(entry)
            drift.compare_with_baseline(result)  # against fresh-process, once it has run
            save(plan, result)
            if on_strategy_done:
                on_strategy_done(entry)
            if entry.status is Status.INTERRUPTED:
                interrupted = True
                break
    except KeyboardInterrupt:  # between strategies: what is done is written below
        interrupted = True
    result.finished_at = _now()
    result.host["load_avg_end"] = hostinfo.load_average()  # beside load_avg_start: was the host busy?
    save(plan, result)
    if interrupted:
        raise RunInterrupted(result)
    return result
