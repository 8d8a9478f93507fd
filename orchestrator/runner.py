"""`execute(plan)`: runs every strategy of a plan, one after another, each in its own
worker process(es), and returns the run's result (schema `orch.run/1`, README), which is
also written to `<out>/<run-id>/run.json` (and `plan.json_path`) — after every strategy, so
an interrupted run still leaves a valid file."""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
from pathlib import Path

from orchestrator import alignment, analysis, hostinfo
from orchestrator.plan import RunPlan
from orchestrator.strategy_runner import StrategyRunner

SCHEMA = "orch.run/1"


class RunInterrupted(Exception):
    """Ctrl-C: the result so far has been written; carries it."""

    def __init__(self, result: dict):
        super().__init__("interrupted")
        self.result = result


def not_applicable(plan: RunPlan, strategy: str) -> str | None:
    """Why a strategy cannot run this scenario, or None."""
    if plan.scenario == "switch" and strategy in ("restart", "cli-interactive"):
        return ("scenario switch loads and unloads models in turn; "
                f"{strategy} keeps one model loaded for its whole life")
    if plan.scenario == "align" and strategy == "cli-interactive":
        return ("an interactive program reads one audio path per request; "
                "the aligner also needs the transcript")
    return None


def worker_config(plan: RunPlan, strategy: str) -> dict:
    return {"strategy": strategy, "engine": plan.engine, "engine_options": plan.engine_options,
            "scenario": plan.scenario, "models": list(plan.models), "audio": plan.audio,
            "transcript": plan.transcript_text(), "language": plan.language}


def _scorer(plan: RunPlan, audio_s: float | None):
    """What is computed from each output: word-timing checks for the aligner, else the
    quality pipeline for this run's language and reference. Built before any worker starts
    (its set-up must not land inside a measured iteration); None if not installed."""
    if plan.scenario == "align":
        transcript = plan.transcript_text()
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


def write_json_atomic(path: Path, data: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1)
        f.flush()
        os.fsync(f.fileno())
    # mkstemp makes 0600; a result file is read like any other the user writes
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def _save(plan: RunPlan, result: dict) -> None:
    write_json_atomic(plan.run_dir / "run.json", result)
    if plan.json_path:
        write_json_atomic(plan.json_path, result)


def _summarize(entry: dict, plan: RunPlan, scorer) -> None:
    iterations = entry["iterations"]
    entry["summary"] = analysis.summarize(iterations, plan.thresholds)
    if plan.scenario == "switch":
        entry["per_model"] = analysis.per_model(iterations)
    if plan.scenario == "align":
        entry["alignment"] = analysis.alignment_summary(iterations)
    if scorer and plan.scenario != "align":
        entry["summary"].update(analysis.quality_summary(iterations))


def execute(plan: RunPlan, progress_factory=None, on_strategy_done=None) -> dict:
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    audio_s = hostinfo.audio_seconds(plan.audio) if plan.audio else None
    result = {
        "schema": SCHEMA, "run_id": plan.run_id,
        "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "finished_at": None, "host": hostinfo.host_facts(),
        "engine": {"name": plan.engine, **plan.engine_options},
        "plan": plan.describe(audio_s), "results": [],
    }
    scorer = _scorer(plan, audio_s)
    interrupted = False
    try:
        for strategy in plan.strategies:
            entry = {"strategy": strategy, "scenario": plan.scenario, "model": plan.model_label()}
            reason = not_applicable(plan, strategy)
            if reason:
                entry.update(status="skipped", error=reason, iterations=[], summary=None)
                result["results"].append(entry)
                continue
            progress = progress_factory(strategy) if progress_factory else None
            try:
                runner = StrategyRunner(plan, strategy, worker_config(plan, strategy), audio_s,
                                        scorer=scorer, progress=progress)
                out = runner.run()
            finally:
                if progress and hasattr(progress, "close"):
                    progress.close()
            entry.update(status=out["status"], error=out["error"], iterations=out["iterations"],
                         teardown=out["teardown"], engine_info=out["engine_info"],
                         samples=out["samples"], partial=out["partial"], summary=None)
            try:
                _summarize(entry, plan, scorer)
            except Exception as exc:  # a bug in the analysis must not cost the measurements
                entry.update(status="error", error=f"orch error summarizing {strategy}: "
                                                   f"{type(exc).__name__}: {exc}")
            result["results"].append(entry)
            _save(plan, result)
            if on_strategy_done:
                on_strategy_done(entry)
            if out["status"] == "interrupted":
                interrupted = True
                break
    except KeyboardInterrupt:  # between strategies: what is done is written below
        interrupted = True
    result["finished_at"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    _save(plan, result)
    if interrupted:
        raise RunInterrupted(result)
    return result
