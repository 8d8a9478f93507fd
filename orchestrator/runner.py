"""`execute(plan)`: runs every strategy of a plan, one after another, each in its own
worker process(es), and returns the run's `RunResult` (schema in orchestrator.results),
which is also written to `<out>/<run-id>/run.json` (and `plan.json_path`) — after every
strategy, so an interrupted run still leaves a valid file."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path

from orchestrator import alignment, analysis, hostinfo, image_identity, strategies
from orchestrator.atomic import write_json_atomic
from orchestrator.plan import RunPlan
from orchestrator.results import RunResult, Status, StrategyResult
from orchestrator.strategy_runner import StrategyRunner


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
        "engine_options": plan.engine_options.to_worker(),
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
    (its set-up must not land inside a measured iteration); None if not installed."""
    if plan.scenario == "align":
        transcript = plan.transcript_text() or ""  # preflight refuses an align run without one
        return lambda text: {"alignment": alignment.check(text, transcript, audio_s)}
    try:
        from orchestrator.quality import pipeline
    except ImportError:
        return None
    reference_file = pipeline.find_reference(plan.audio, plan.reference) if plan.audio else plan.reference
    reference = Path(reference_file).read_text(encoding="utf-8").strip() if reference_file else None
    pipeline.process_transcript("", plan.language, reference)  # warm up its dictionaries

    def score(text_raw: str) -> dict:
        out = pipeline.process_transcript(text_raw, plan.language, reference)
        out.pop("text_raw", None)
        return out

    return score


def _save(plan: RunPlan, result: RunResult) -> None:
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
    if entry.status is Status.MEMORY_LIMIT:
        entry.summary.projected_rss_mb = analysis.project_rss(its, plan.iters, entry.summary.growth_mb_per_iter)


def _run_strategy(plan: RunPlan, strategy: str, audio_s, scorer, progress_factory) -> StrategyResult:
    reason = not_applicable(plan, strategy)
    if reason:
        return StrategyResult(
            strategy=strategy, scenario=plan.scenario, model=plan.model_label(), status=Status.SKIPPED, error=reason
        )
    progress = progress_factory(strategy) if progress_factory else None
    try:
        runner = StrategyRunner(
            plan, strategy, worker_config(plan, strategy), audio_s, scorer=scorer, progress=progress
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
    result = RunResult(
        run_id=plan.run_id,
        started_at=_now(),
        host=hostinfo.host_facts(),
        # inside an orch image, which image (orchestrator/image_identity.py)
        engine={"name": plan.engine, **plan.engine_options.describe(), **image_identity.engine_fields()},
        plan=plan.describe(audio_s),
    )
    scorer = _scorer(plan, audio_s)
    interrupted = False
    try:
        for strategy in plan.strategies:
            entry = _run_strategy(plan, strategy, audio_s, scorer, progress_factory)
            result.results.append(entry)
            _save(plan, result)
            if on_strategy_done:
                on_strategy_done(entry)
            if entry.status is Status.INTERRUPTED:
                interrupted = True
                break
    except KeyboardInterrupt:  # between strategies: what is done is written below
        interrupted = True
    result.finished_at = _now()
    _save(plan, result)
    if interrupted:
        raise RunInterrupted(result)
    return result
