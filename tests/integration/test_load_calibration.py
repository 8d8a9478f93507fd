"""Queueing calibration of orch load on the calibration engine with a fixed service time
(TTFT 40 ms + 13 x 1 ms tokens: about 55 ms a request as the queue sees it, measured).

Poisson arrivals, one worker at two loads and two workers at one; what is checked per level:

1. The harness adds no delay of its own: the waits that this very arrival sequence and these
   measured service times must give (queueing.replay_waits, first come first served to the
   first free worker) match the measured waits within 2 ms + 5% on average.
2. The mean wait is what theory expects: it lies within the central 99% of the mean waits of
   400 simulated levels of the same length (the same rate and servers, service times drawn
   from the measured ones), widened by 25% for what a shared 2-core host adds (a worker
   descheduled mid-request; both tolerances chosen for a loaded machine); and those
   simulations agree with the formula (queueing.mean_wait_s: M/D/1 exact, Allen-Cunneen for c=2).
3. A rate above capacity (one worker at ~1.6x) is called saturated; the others are not.

A measurement test: it takes about a minute, and it needs no chatllm.cpp.
"""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from orchestrator.engines.calibration.options import CalibrationOptions
from orchestrator.load.arrivals import OpenLoop
from orchestrator.load.levels import Slo
from orchestrator.load.pool import PoolConfig
from orchestrator.load.queueing import mean_wait_s, replay_waits
from orchestrator.load.runner import LoadPlan, execute
from orchestrator.run import worker_config
from orchestrator.run.plan import RunPlan

# what orch load sends (LoadPlan.build): the one worker config, in serve mode
WORKER = worker_config.build(
    RunPlan(strategies=["restart"], engine_options=CalibrationOptions(ttft_ms=40.0, token_ms=1.0, model_mb=4.0)),
    "restart",
    serve=True,
)
N = 150


def _run(tmp_path: Path, workers: int, rates: list[float], count: int):
    plan = LoadPlan(
        pool=PoolConfig(worker_config=WORKER, workers=workers, log_dir=tmp_path, sample_hz=2.0),
        levels=[OpenLoop("poisson", r, seed=7 + k) for k, r in enumerate(rates)],
        count=count,
        duration=None,
        warmup=2 * workers,
        audio=[(None, None)],
        slo=Slo(),
        run_dir=tmp_path / f"w{workers}",
    )
    return execute(plan)


def _simulated_means(rate: float, services: list[float], servers: int, n: int) -> list[float]:
    rng = random.Random(99)
    out = []
    for seed in range(400):
        arr = OpenLoop("poisson", rate, seed=1000 + seed).offsets(count=n)
        out.append(statistics.fmean(replay_waits(arr, [rng.choice(services) for _ in arr], servers)))
    return sorted(out)


def _check_level(result, level: int, rate: float, servers: int) -> str:
    stats = result.levels[level]
    import json

    records = [json.loads(line) for line in Path(result.records_path).read_text().splitlines()]
    recs = sorted((r for r in records if r["level"] == level and not r["warmup"]), key=lambda r: r["sent"])
    assert stats.accounted and stats.ok == N == len(recs), stats
    sent = [r["sent"] - recs[0]["sent"] for r in recs]
    services = [(r["freed"] - r["dispatched"]) for r in recs]
    measured = [r["queue_wait_ms"] / 1000 for r in recs]
    replay = replay_waits(sent, services, servers)
    gap = statistics.fmean(abs(a - b) for a, b in zip(measured, replay, strict=True))
    assert gap <= 0.002 + 0.05 * statistics.fmean(replay), (gap, statistics.fmean(replay))

    sims = _simulated_means(rate, services, servers, N)
    lo, hi = sims[2] / 1.25, sims[-3] * 1.25  # central 99%, widened 25%
    mean = statistics.fmean(measured)
    cs2 = statistics.variance(services) / statistics.fmean(services) ** 2
    theory = mean_wait_s(rate, statistics.fmean(services), servers, ca2=1.0, cs2=cs2)
    assert abs(statistics.fmean(sims) - theory) <= 0.15 * theory + 0.002, (statistics.fmean(sims), theory)
    assert lo <= mean <= hi, (mean, lo, hi, theory)
    assert not stats.saturation.saturated, stats.saturation
    return (
        f"rate {rate}, {servers} worker(s): mean wait {mean * 1000:.1f} ms, this sequence's replay "
        f"{statistics.fmean(replay) * 1000:.1f} ms, theory {theory * 1000:.1f} ms (99% of levels: "
        f"{sims[2] * 1000:.1f}..{sims[-3] * 1000:.1f} ms)"
    )


@pytest.mark.slow
def test_one_worker_matches_md1_at_two_loads_and_saturates_above_capacity(tmp_path):
    result = _run(tmp_path, 1, [7.0, 12.0, 30.0], N)
    for level, rate in enumerate([7.0, 12.0]):
        print(_check_level(result, level, rate, 1))
    over = result.levels[2]
    assert over.accounted and over.ok == N
    assert over.saturation.saturated, over.saturation


@pytest.mark.slow
def test_two_workers_match_mdc(tmp_path):
    result = _run(tmp_path, 2, [25.0], N)
    print(_check_level(result, 0, 25.0, 2))
