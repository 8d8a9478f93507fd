"""`orch compare --engines A,B,...` (orchestrator.commands.compare_engines): the same run on
several engines, one engine after another and each strategy in its own worker(s) as in any
run, made into ONE RunResult: every entry names its engine (`StrategyResult.engine`) and
carries its figures against the host's limits (`limits`), measured once by orch before any
worker starts (`host.limits`, orchestrator.run.host_limits).

An engine that cannot run (no model, its runtime missing) is one row with status `error`
and why; a strategy an engine does not run is a `skipped` row saying so. Each engine's own
run is kept under the run's folder (`<engine>/run.json`, its workers' logs)."""

from __future__ import annotations

import dataclasses
import datetime as _dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.engines import weights
from orchestrator.errors import OrchError, WriteFailed
from orchestrator.results import decision, output
from orchestrator.results.atomic import write_json_atomic
from orchestrator.results.drift import drifted_strategies
from orchestrator.results.limits import runtime_limits
from orchestrator.results.model import HostLimits, RunResult, RuntimeLimits, Status, StrategyResult
from orchestrator.run import hostinfo, runner
from orchestrator.run.plan import RunPlan, new_run_id

NO_STRATEGY = "-"  # the strategy of an engine's one error row: it ran none


@dataclass
class EngineRun:
    """One engine's part of the comparison: its plan, or why it cannot run."""

    engine: str
    model: str | None = None
    plan: RunPlan | None = None  # None: nothing of it runs (`problem`, or no strategy it runs)
    problem: str | None = None  # one line: why it cannot run
    skipped: dict[str, str] = field(default_factory=dict)  # strategy -> why this engine does not run it
    notes: list[str] = field(default_factory=list)

    def weights(self) -> weights.WeightsProfile | None:
        entry = weights.manifest_entry(self.model) if self.model else None
        return weights.profile(entry)


@dataclass
class RuntimesRun:
    result: RunResult
    interrupted: bool
    run_dir: Path
    write_failed: OrchError | None = None  # a full disk stopped the comparison (exit 1, one line)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _error_row(run: EngineRun, strategy: str) -> StrategyResult:
    return StrategyResult(strategy=strategy, model=run.model, status=Status.ERROR, error=run.problem, engine=run.engine)


def _skipped_row(run: EngineRun, strategy: str, why: str) -> StrategyResult:
    return StrategyResult(strategy=strategy, model=run.model, status=Status.SKIPPED, error=why, engine=run.engine)


def _rows_of(run: EngineRun, strategies: list[str], measured: list[StrategyResult], host: HostLimits | None):
    """The engine's rows in the order asked: measured entries (engine and limits added),
    skipped strategies, or one error row for an engine that could not run."""
    if run.problem is not None:
        return [_error_row(run, NO_STRATEGY)]
    profile = run.weights()
    audio_s = run.plan.audio_s if run.plan else None
    by_name = {e.strategy: e for e in measured}
    rows = []
    for s in strategies:
        if s in run.skipped:
            rows.append(_skipped_row(run, s, run.skipped[s]))
        elif s in by_name:
            entry = by_name[s]
            entry.engine = run.engine
            if entry.status is Status.SKIPPED:
                pass
            elif run.model is None:  # the calibration engine: no weights, so no limit
                entry.limits = RuntimeLimits(note="no model weights to set against the host's limits")
            else:
                entry.limits = runtime_limits(entry, host, profile, audio_s)
            rows.append(entry)
    return rows


def _described(runs: list[EngineRun], strategies: list[str], model_name: str | None, shape: str | None) -> dict:
    """The plan block: the engines, their models, the strategies, and each engine's own plan."""
    first = next((r.plan for r in runs if r.plan is not None), None)
    common = first.describe(first.audio_s) if first else {}
    return {
        **{k: v for k, v in common.items() if k not in ("engine", "models", "strategies", "run_id")},
        "engines": [r.engine for r in runs],
        "strategies": list(strategies),
        "models": [r.model for r in runs if r.model],
        "engine_models": {r.engine: r.model for r in runs},
        "model_name": model_name,
        "shape": shape,
        "per_engine": {r.engine: (r.plan.describe(r.plan.audio_s) if r.plan else {"problem": r.problem}) for r in runs},
    }


def _save(result: RunResult, paths: list[Path]) -> OrchError | None:
    """The comparison's run.json (and --json); the first file the disk refused, as WriteFailed."""
    for path in paths:
        try:
            write_json_atomic(path, result.to_json())
        except OSError as exc:
            return WriteFailed(path, exc)
    return None


def run_engines(
    runs: list[EngineRun],
    strategies: list[str],
    out: Path,
    host_limits: Callable[[], HostLimits | None],
    json_path: Path | None = None,
    model_name: str | None = None,
    shape: str | None = None,
    echo: Callable[[str], None] = lambda text: None,
    progress: Callable = lambda plan, prefix: None,
) -> RuntimesRun:
    """Measure the host (`host_limits`, before any worker), then run each engine's plan in
    turn into `out/<run-id>/<engine>/`; one RunResult of all of it, written after every
    engine (an interrupted comparison keeps what was measured)."""
    run_id = new_run_id()
    run_dir = Path(out) / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    result = RunResult(
        run_id=run_id,
        started_at=_now(),
        host=hostinfo.host_facts(),
        engine={"name": ",".join(r.engine for r in runs), "engines": {}},
        plan=_described(runs, strategies, model_name, shape),
    )
    limits = host_limits()
    if limits is not None:
        result.host["limits"] = limits.to_json()

    def save() -> OrchError | None:
        decision.attach(result)
        return _save(result, [run_dir / "run.json"] + ([json_path] if json_path else []))

    interrupted = False
    write_failed: OrchError | None = None
    for run in runs:
        if interrupted or write_failed:
            break
        measured: list[StrategyResult] = []
        if run.plan is not None:
            plan = dataclasses.replace(run.plan, run_id=run.engine, out_dir=run_dir, json_path=None)
            echo(f"compare: engine {run.engine} ({', '.join(plan.strategies)})")
            try:
                done: RunResult | None = runner.execute(plan, progress_factory=progress(plan, f"{run.engine} "))
            except runner.RunInterrupted as exc:
                done, interrupted = exc.result, True
            except runner.RunWriteFailed as exc:  # a full disk: no further engine
                done, write_failed = exc.result, exc
            except KeyboardInterrupt:  # before its first worker: nothing of this engine measured
                done, interrupted = None, True
            if done is not None:
                measured = done.results
                result.engine["engines"][run.engine] = done.engine
                result.environment = result.environment or done.environment
        result.results += _rows_of(run, strategies, measured, limits)
        write_failed = write_failed or save()
    result.finished_at = _now()
    result.host["load_avg_end"] = hostinfo.load_average()
    write_failed = write_failed or save()
    return RuntimesRun(result, interrupted, run_dir, write_failed)


def failed(result: RunResult) -> bool:
    """A row not ok (an engine that could not run included), a text that drifted, or a
    thread, fd or map count that grows (docs/resources.md)."""
    growing = any(output.growing_resources(r, failing=True) for r in result.results)
    return not result.ok or bool(drifted_strategies(result)) or growing
