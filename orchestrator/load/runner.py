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
from orchestrator.load.levels import DEFAULT_MAX_LATENESS_MS, LevelStats, RequestRecord, Slo, level_stats
from orchestrator.load.pool import Pool, PoolConfig
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

    def describe(self) -> dict[str, Any]:
        cfg = self.pool.worker_config
        return {
            "engine": cfg["engine"],
            "strategy": cfg["strategy"],
            "models": cfg.get("models"),
            "workers": self.pool.workers,
            "levels": [a.describe() for a in self.levels],
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
    pool = Pool(plan.pool, sink.write)
    result = LoadResult(plan=plan.describe(), levels=[], records_path=str(sink.path))
    counter = itertools.count(1)
    interrupted = False
    started: list[float] = []  # when each level's measured requests began (memory: after warm-up)
    try:
        pool.start()
        result.engine = pool.slots[0].engine_info
        for level, arrivals in enumerate(plan.levels):
            started.append(time.monotonic())
            pool.run_level(
                level, arrivals, plan.count, plan.duration, plan.warmup, plan.audio, lambda: next(counter), plan.seed
            )
            if pool.guard and pool.guard.tripped_mb is not None:
                result.error = pool.guard.message()
                break
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
    for level, arrivals in enumerate(plan.levels[: len(started)]):
        stats = level_stats(level, arrivals, records, plan.slo, plan.max_lateness_ms)
        stats.memory = _memory(pool, plan, records, level)
        result.levels.append(stats)
    if plan.json_path:
        write_text_atomic(Path(plan.json_path), json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    if interrupted:
        raise KeyboardInterrupt
    return result


def _memory(pool: Pool, plan: LoadPlan, records: list[RequestRecord], level: int) -> list:
    """Growth per 1000 requests over this level's measured requests (after its warm-up)."""
    if plan.pool.worker_config["strategy"] == "fresh-process":
        return []  # a process per request: there is no long-lived worker to grow
    measured = [r for r in records if r.level == level and not r.warmup and r.dispatched is not None]
    if not measured:
        return []
    since = min(r.dispatched for r in measured if r.dispatched is not None)
    until = max(r.ended for r in measured)
    out = []
    series = []
    for slot in pool.slots:
        samples = [s for s in slot.sampler.samples if s.t <= until]
        completions = [t for t in slot.completions if since <= t <= until]
        series.append((samples, completions))
        fit = memory.growth(slot.name, memory.per_slot(samples, completions, since))
        if fit:
            out.append(fit)
    if len(pool.slots) > 1:
        fit = memory.growth("pool", memory.pool_points(series, since))
        if fit:
            out.append(fit)
    return out
