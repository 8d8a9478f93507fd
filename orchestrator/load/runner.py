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

from orchestrator.load import memory
from orchestrator.load.arrivals import Arrivals
from orchestrator.load.http_target import ServerTarget
from orchestrator.load.levels import DEFAULT_MAX_LATENESS_MS, LevelStats, RequestRecord, Slo, level_stats
from orchestrator.load.pool import Pool, PoolConfig
from orchestrator.load.server import ServerPool
from orchestrator.load.sweep import Sweep
from orchestrator.results.atomic import write_text_atomic
from orchestrator.run.record_sink import Sink


@dataclass
class LoadPlan:
    pool: PoolConfig
    levels: list[Arrivals]
    count: int | None
    duration: float | None
    warmup: int
    audio: list[tuple[str | None, float | None]]  # (file, seconds)
    slo: Slo = field(default_factory=Slo)
    max_lateness_ms: float = DEFAULT_MAX_LATENESS_MS
    seed: int = 0
    run_dir: Path = Path("orch-results/load")
    json_path: Path | None = None
    audio_weights: list[float] | None = None  # how often each `audio` file is picked (None: uniform)
    sweep: Sweep | None = None  # the automatic sweep: its levels are made as it runs (`levels` unused)
    server: ServerTarget | None = None  # a server as the target (--url), in place of worker processes

    def describe(self) -> dict[str, Any]:
        cfg = self.pool.worker_config
        out = {
            "engine": cfg.get("engine"),
            "strategy": cfg.get("strategy"),
            "models": cfg.get("models"),
            "workers": self.pool.workers,
            "levels": [self.sweep.describe()] if self.sweep else [a.describe() for a in self.levels],
            "requests": self.count,
            "duration_s": self.duration,
            "warmup_requests": self.warmup,
            "audio": [path for path, _ in self.audio],
            "slo": self.slo.describe(),
            "max_lateness_ms": self.max_lateness_ms,
            "request_timeout_s": self.pool.request_timeout,
            "max_queue": self.pool.max_queue,
            "max_rss_mb": self.pool.max_rss_mb,
            "seed": self.seed,
        }
        if self.audio_weights:
            out["audio_weights"] = self.audio_weights
        if self.server:
            out["server"] = self.server.describe()
        return out


@dataclass
class LoadResult:
    plan: dict[str, Any]
    levels: list[LevelStats]
    records_path: str
    interrupted: bool = False
    error: str | None = None  # the pool's memory guard, a pool that could not start
    notes: list[str] = field(default_factory=list)
    engine: dict | None = None

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
    counter = itertools.count(1)
    interrupted = False
    started: list[float] = []  # when each level's measured requests began (memory: after warm-up)
    levels: list[Arrivals] = list(plan.sweep.first() if plan.sweep else plan.levels)
    stopped: list[str | None] = []
    cpu: list[float | None] = []  # each level's CPU seconds over its measured requests
    try:
        pool.start()
        result.engine = pool.engine_info
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
                )
            )
            cpu.append(_level_cpu(pool))
            if pool.guard and pool.guard.tripped_mb is not None:
                result.error = pool.guard.message()
                break
            if plan.sweep is not None and level == 1:
                levels += _sweep_rates(plan, pool, sink, levels)
            level += 1
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
    records = sink.records
    for level, arrivals in enumerate(levels[: len(started)]):
        stats = level_stats(level, arrivals, records, plan.slo, plan.max_lateness_ms)
        stats.memory = _memory(pool, plan, records, level)
        stats.stopped_early = stopped[level] if level < len(stopped) else None
        stats.cpu_s = cpu[level] if level < len(cpu) else None
        result.levels.append(stats)
    if plan.json_path:
        write_text_atomic(Path(plan.json_path), json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    if interrupted:
        raise KeyboardInterrupt
    return result


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
    if plan.pool.worker_config.get("strategy") == "fresh-process":
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
