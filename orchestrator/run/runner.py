"""`execute(plan)`: runs every strategy of a plan, one after another, each in its own
worker process(es), and returns the run's `RunResult` (schema in orchestrator.results.model),
which is also written to `<out>/<run-id>/run.json` (and `plan.json_path`) — after every
strategy, so an interrupted run still leaves a valid file."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path

from orchestrator.engines import image_identity
from orchestrator.errors import ExitCode, OrchError, WriteFailed
from orchestrator.quality import pipeline
from orchestrator.results import alignment, analysis, decision, drift
from orchestrator.results.atomic import write_json_atomic
from orchestrator.results.model import RunResult, Status, StrategyResult
from orchestrator.run import hostinfo, procfs, strategies, worker_config, worker_env
from orchestrator.run.plan import RunPlan
from orchestrator.run.strategy_runner import StrategyRunner


class RunInterrupted(Exception):
    """Ctrl-C: the result so far has been written; carries it."""

    def __init__(self, result: RunResult):
        super().__init__("interrupted")
        self.result = result


class RunWriteFailed(OrchError):
    """A result file could not be written (a full disk): the run stopped there; carries the
    result as measured (for the history database, which may be on another disk), the
    failure, and what is kept on disk. Exit 1, one line."""

    def __init__(self, result: RunResult, failure: WriteFailed, kept: list[str], run_json: bool):
        self.result, self.failure, self.kept = result, failure, kept
        lost = "" if run_json or failure.path.name == "run.json" else "; run.json not written"
        super().__init__(failure.what_was_kept(kept) + lost, ExitCode.FAILED)


def not_applicable(plan: RunPlan, strategy: str) -> str | None:
    """Why a strategy cannot run this scenario, or None (strategies registry)."""
    return strategies.get(strategy).not_applicable(plan.scenario)


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
    attribution adds its blocks; a comparison with its decision. WriteFailed (one line, exit 1)
    naming the file the disk refused."""
    decision.attach(result)
    data = result.to_json()
    for path in [plan.run_dir / "run.json"] + ([plan.json_path] if plan.json_path else []):
        try:
            write_json_atomic(path, data)
        except OSError as exc:
            raise WriteFailed(path, exc) from None


def _kept(plan: RunPlan, result: RunResult, run_json: bool) -> list[str]:
    """What a run whose results could not all be written has on disk: each strategy's whole
    records in its JSONL, and run.json when it was written."""
    kept = [
        f"{len(e.iterations)} whole record(s) in {plan.run_dir / (e.strategy + '.jsonl')}"
        for e in result.results
        if e.iterations
    ]
    if run_json:
        kept.append(f"{plan.run_dir / 'run.json'} (as measured until then)")
    return kept


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
) -> tuple[StrategyResult, WriteFailed | None]:
    """The strategy's result, and the failure to write its JSONL (a full disk) if one stopped it."""
    reason = not_applicable(plan, strategy)
    if reason:
        skipped = StrategyResult(
            strategy=strategy, scenario=plan.scenario, model=plan.model_label(), status=Status.SKIPPED, error=reason
        )
        return skipped, None
    progress = progress_factory(strategy) if progress_factory else None
    try:
        runner = StrategyRunner(
            plan, strategy, worker_config.build(plan, strategy), audio_s, scorer=scorer, progress=progress, env=env
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
    return entry, runner.write_failed


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
        engine={**worker_config.engine_block(plan), **image_identity.engine_fields()},
        plan=plan.describe(audio_s),
        environment=env.record,
    )
    scorer = _scorer(plan, audio_s)
    interrupted, failed = False, None
    try:
        for strategy in plan.strategies:
            entry, failed = _run_strategy(plan, strategy, audio_s, scorer, progress_factory, env.environ)
            result.results.append(entry)
            drift.compare_with_baseline(result)  # against fresh-process, once it has run
            if failed:  # a full disk: no further strategy; what was measured is kept below
                break
            save(plan, result)
            if on_strategy_done:
                on_strategy_done(entry)
            if entry.status is Status.INTERRUPTED:
                interrupted = True
                break
    except KeyboardInterrupt:  # between strategies: what is done is written below
        interrupted = True
    except WriteFailed as exc:  # run.json after a strategy
        failed = exc
    result.finished_at = _now()
    result.host["load_avg_end"] = hostinfo.load_average()  # beside load_avg_start: was the host busy?
    try:
        save(plan, result)
    except WriteFailed as exc:  # run.json, or --json after it
        written = exc.path != plan.run_dir / "run.json"
        raise RunWriteFailed(result, failed or exc, _kept(plan, result, written), run_json=written) from None
    if failed:
        raise RunWriteFailed(result, failed, _kept(plan, result, True), run_json=True)
    if interrupted:
        raise RunInterrupted(result)
    return result
