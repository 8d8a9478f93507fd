"""Load runs made from exact request times (no pool, no clock): a FCFS single server with a
fixed service time under constant arrivals, run through load.levels.level_stats as the
runner does, then read back as the history reads it (results.load_run.LoadRun). Times are
binary fractions, so every figure is exact: the tests assert exact values."""

from __future__ import annotations

from orchestrator.load.arrivals import OpenLoop
from orchestrator.load.levels import MemoryGrowth, RequestRecord, Slo, level_stats
from orchestrator.results.load_run import LoadRun

T0 = 1024.0


def level_records(level: int, rate: float, n: int, service_s: float, ttft_s: float, late_s: float = 0.0):
    """n requests every 1/rate s from T0 + 4096 x level, one server, each `service_s` long,
    its first chunk `ttft_s` after dispatch; the generator `late_s` behind its schedule."""
    out, free, start = [], 0.0, T0 + 64 * level
    for k in range(n):
        sent = start + k / rate
        dispatched = max(sent, free)
        free = dispatched + service_s
        out.append(
            RequestRecord(
                i=level * 1000 + k + 1,
                level=level,
                warmup=False,
                audio=None,
                audio_s=None,
                scheduled=sent - late_s,
                sent=sent,
                status="ok",
                worker="w1",
                dispatched=dispatched,
                t_request=dispatched,
                t_first=dispatched + ttft_s,
                t_end=free,
                freed=free,
                tokens=2,
            )
        )
    return out


def memory(mb_per_1000: float, n: int = 32) -> MemoryGrowth:
    """A fit over n samples, one every 4 requests (enough requests for a figure per 1000)."""
    points = [(4 * k, 256.0 + mb_per_1000 * 4 * k / 1000) for k in range(n)]
    return MemoryGrowth("w1", mb_per_1000, (mb_per_1000 - 0.5, mb_per_1000 + 0.5), 4 * (n - 1), n, points)


def load_run(
    run_id: str = "20260101T000000Z-aaaaaa",
    rates=(8.0, 32.0),
    service_s: float = 0.0625,
    ttft_s: float = 0.03125,
    n: int = 662,  # the fewest that support a p99 claim (results.early_stopping)
    slo: str = "latency_ms=100",
    mb_per_1000: float = 2.0,
    late_s: float = 0.0,
    started_at: str = "2026-01-01T00:00:00+00:00",
    floors=None,
) -> LoadRun:
    """A load run of one worker, one level per rate: below capacity (1/service_s = 16/s) no
    request waits; above it every request waits 1/16 - 1/rate s longer than the last.
    `floors`: per level, its verdict against a floor (load.length.Floor.verdict, as the
    runner sets it) or None (a fixed length)."""
    levels = []
    for k, rate in enumerate(rates):
        arrivals = OpenLoop("constant", rate, seed=k)
        stats = level_stats(k, arrivals, level_records(k, rate, n, service_s, ttft_s, late_s), Slo.parse(slo))
        stats.memory = [memory(mb_per_1000, n)]
        stats.floor = floors[k] if floors else None
        levels.append(stats.to_json())
    doc = {
        "plan": {
            "engine": "calibration",
            "strategy": "restart",
            "models": [None],
            "workers": 1,
            "levels": [lv["arrivals"] for lv in levels],
            "requests": n,
            "duration_s": None,
            "warmup_requests": 0,
            "audio": [None],
            "slo": slo,
            "max_lateness_ms": 10.0,
            "seed": 0,
        },
        "levels": levels,
        "records_path": None,
        "interrupted": False,
        "error": None,
        "notes": [],
        "engine": {"name": "calibration", "options": {"ttft_ms": ttft_s * 1000}},
    }
    run = LoadRun.from_json(doc)
    run.run_id, run.started_at, run.finished_at = run_id, started_at, started_at
    run.host = {"hostname": "testhost"}
    return run
