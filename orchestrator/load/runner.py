"""One orch load run: start the pool, run its levels one after another, write every request
once as it ends (`<out>/<run id>/requests.jsonl`, the record sink), and build the result:
per level statistics, memory per thousand requests, what went wrong. Ctrl-C stops the level:
queued and running requests are cancelled and written, the result is written with
`interrupted: true`, and KeyboardInterrupt goes on up (exit 130)."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import ExitCode, OrchError, WriteFailed
from orchestrator.load import memory, output_checks
from orchestrator.load.arrivals import Arrivals
from orchestrator.load.levels import LevelStats, RequestRecord, level_stats
from orchestrator.load.plan import LoadInputs, LoadPlan
from orchestrator.load.pool import Pool
from orchestrator.load.server import ServerPool
from orchestrator.results.atomic import write_text_atomic
from orchestrator.run.record_sink import Sink

__all__ = ["LoadInputs", "LoadPlan", "LoadResult", "execute"]


@dataclass
class LoadResult:
    plan: dict[str, Any]
    levels: list[LevelStats]
    records_path: str
    interrupted: bool = False
    error: str | None = None  # the pool's memory guard, a pool that could not start
    notes: list[str] = field(default_factory=list)
    engine: dict | None = None
    caching: dict | None = None  # load.output_checks.caching_verdict (TEST04), when run

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["levels"] = [lv.to_json() for lv in self.levels]
        return out


def execute(plan: LoadPlan, on_record=None) -> LoadResult:
    """Run every level; KeyboardInterrupt after the result is written."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    plan.pool.log_dir = plan.run_dir
    sink: Sink[RequestRecord] = Sink(plan.run_dir / "requests.jsonl", progress=on_record)
    if plan.server is not None:
        paths = sorted({path for path, _ in plan.audio if path})
        pool: Pool = ServerPool(plan.pool, plan.server, sink.write, paths)
    else:
        pool = Pool(plan.pool, sink.write)
    result = LoadResult(plan=plan.describe(), levels=[], records_path=str(sink.path))
    interrupted = False
    counter = itertools.count(1)  # request numbers, run-wide: the reference pass, the levels, the caching check
    started: list[float] = []  # when each level's measured requests began (memory: after warm-up)
    levels: list[Arrivals] = list(plan.sweep.first() if plan.sweep else plan.levels)
    stopped: list[str | None] = []
    cpu: list[float | None] = []  # each level's CPU seconds over its measured requests
    try:
        pool.start()
        result.engine = pool.engine_info
        if plan.check_outputs:
            output_checks.reference_pass(pool, plan.audio, lambda: next(counter), plan.seed)
        _run_levels(plan, pool, sink, result, levels, started, stopped, counter, cpu)
        if plan.check_caching and result.error is None:
            folder = plan.run_dir / "caching-clips"
            output_checks.caching_pass(
                pool, plan.audio[0], plan.check_caching, folder, lambda: next(counter), plan.seed
            )
    except KeyboardInterrupt:
        interrupted = True
        pool.interrupt()
    finally:
        pool.close()
        sink.close()
    result.interrupted = interrupted
    result.notes = pool.notes
    if pool.guard and pool.guard.tripped_mb is not None:
        result.error = pool.guard.message()
    _level_results(result, plan, pool, sink.records, levels[: len(started)], stopped, cpu)
    if pool.write_failed:
        result.error = pool.write_failed.message
    _write_result(plan, result, pool.write_failed, sink.whole_lines)
    if interrupted:
        raise KeyboardInterrupt
    return result


def _run_levels(
    plan: LoadPlan,
    pool: Pool,
    sink: Sink[RequestRecord],
    result: LoadResult,
    levels: list[Arrivals],
    started: list[float],
    stopped: list[str | None],
    counter: itertools.count,
    cpu: list[float | None],
) -> None:
    """The levels one after another (the sweep adds its rates after its first two), each
    level's start time and why it stopped early noted; the pool's memory guard ends them."""
    level = 0
    while level < len(levels):
        started.append(time.monotonic())
        stopped.append(
            pool.run_level(
                level,
                levels[level],
                plan.count,
                plan.duration,
                plan.warmup,
                plan.audio,
                lambda: next(counter),
                plan.seed,
                weights=plan.audio_weights,
                stop_saturated=plan.sweep is not None,
                floor=plan.floor,
            )
        )
        cpu.append(_level_cpu(pool))
        if pool.guard and pool.guard.tripped_mb is not None:
            result.error = pool.guard.message()
            break
        if pool.write_failed:  # the disk refused a record: the writer stopped the level
            break
        if plan.sweep is not None and level == 1:
            levels += _sweep_rates(plan, pool, sink, levels)
        level += 1


class LoadWriteFailed(OrchError):
    """The requests' JSONL or the result JSON could not be written (a full disk): the run
    stopped there; carries the result as measured (the history database may be on another
    disk) and whether its JSON was written. Exit 1, one line."""

    def __init__(self, result: LoadResult, failure: WriteFailed, kept: list[str], json_written: bool):
        self.result, self.failure, self.json_written = result, failure, json_written
        super().__init__(failure.what_was_kept(kept), ExitCode.FAILED)


def _write_result(plan: LoadPlan, result: LoadResult, failed: WriteFailed | None, whole_lines: int) -> None:
    """The result JSON; LoadWriteFailed when it or a request record could not be written."""
    json_failed = None
    if plan.json_path:
        try:
            write_text_atomic(Path(plan.json_path), json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
        except OSError as exc:
            json_failed = WriteFailed(plan.json_path, exc)
    failure = failed or json_failed
    if failure is None:
        return
    kept = [f"{whole_lines} whole request record(s) in {result.records_path}"] if whole_lines else []
    if plan.json_path and json_failed is None:
        kept.append(f"{plan.json_path} (as measured until then)")
    raise LoadWriteFailed(result, failure, kept, json_written=json_failed is None)


def _level_results(
    result: LoadResult,
    plan: LoadPlan,
    pool: Pool,
    records: list[RequestRecord],
    levels: list[Arrivals],
    stopped: list[str | None],
    cpu: list[float | None],
) -> None:
    """Each level's statistics, memory, CPU, drift under load; the caching verdict."""
    refs = output_checks.references(records) if plan.check_outputs else {}
    for level, arrivals in enumerate(levels):
        stats = level_stats(level, arrivals, records, plan.slo, plan.max_lateness_ms)
        stats.memory = _memory(pool, plan, records, level)
        stats.stopped_early = stopped[level] if level < len(stopped) else None
        stats.drift_under_load = output_checks.drift_under_load(records, level, refs) if refs else None
        stats.cpu_s = cpu[level] if level < len(cpu) else None
        if plan.floor is not None:  # how the level ended against its floor (load.length)
            stats.floor = plan.floor.verdict(stats.ok + stats.failed + stats.timed_out, stats.duration_s)
        result.levels.append(stats)
    if plan.check_caching:
        result.caching = output_checks.caching_verdict(records)


def _level_cpu(pool: Pool) -> float | None:
    """The workers' CPU seconds since the level's warm-up ended (Pool.cpu_seconds)."""
    end, start = pool.cpu_seconds(), pool.level_cpu_start
    return None if end is None or start is None else max(end - start, 0.0)


def _sweep_rates(plan: LoadPlan, pool: Pool, sink: Sink[RequestRecord], levels: list[Arrivals]) -> list[Arrivals]:
    """The sweep's rate levels, from the throughputs its first two levels measured."""
    assert plan.sweep is not None
    pool.flush()  # every request of the two levels written, so their statistics are whole
    records = sink.records
    sync, top = (level_stats(k, levels[k], records, plan.slo).throughput_rps for k in (0, 1))
    rates = plan.sweep.rate_levels(sync, top)
    if not rates:
        pool.notes.append("sweep: neither the synchronous nor the throughput level finished a request; no rates")
    return list(rates)


def _memory(pool: Pool, plan: LoadPlan, records: list[RequestRecord], level: int) -> list:
    """Growth per 1000 requests over this level's measured requests (after its warm-up)."""
    if plan.pool.fresh_process:
        return []  # a process per request: there is no long-lived worker to grow
    measured = [r for r in records if r.level == level and not r.warmup and r.dispatched is not None]
    if not measured:
        return []
    since = min(r.dispatched for r in measured if r.dispatched is not None)
    until = max(r.ended for r in measured)
    out = []
    series = []
    trees = pool.memory_series()
    for who, all_samples, all_completions in trees:
        samples = [s for s in all_samples if s.t <= until]
        completions = [t for t in all_completions if since <= t <= until]
        series.append((samples, completions))
        fit = memory.growth(who, memory.per_slot(samples, completions, since))
        if fit:
            out.append(fit)
    if len(trees) > 1:
        fit = memory.growth("pool", memory.pool_points(series, since))
        if fit:
            out.append(fit)
    return out
