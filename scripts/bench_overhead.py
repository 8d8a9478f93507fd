#!/usr/bin/env python3
"""Benchmark (not a test): what the harness itself costs.

1. orch's own CPU use while sampling: the parent's CPU seconds per wall second, with the
   sampler at 0 Hz (phase marks only), 20 Hz (default) and 100 Hz, on a `restart` run.
2. Harness overhead per iteration, per strategy: wall time per iteration minus the work the
   calibration engine is told to do (TTFT + tokens x inter-token delay), i.e. process
   spawn, load, phase marks with their memory samples, event handling and record writing.

    python scripts/bench_overhead.py [--iters 30]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from orchestrator.plan import RunPlan
from orchestrator.runner import execute
from orchestrator.tabular import render_table
from workers.engines.calibration import DEFAULTS, split_tokens

TTFT_MS, TOKEN_MS = 20.0, 5.0
WORK_MS = TTFT_MS + (len(split_tokens(DEFAULTS["transcript"])) - 1) * TOKEN_MS


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def timed_run(out: Path, strategy: str, iters: int, hz: float) -> tuple[float, float, dict]:
    plan = RunPlan(strategies=[strategy], iters=iters, warmup=0, out_dir=out, sample_hz=hz,
                   engine_options={"ttft_ms": TTFT_MS, "token_ms": TOKEN_MS})
    c0, t0 = cpu_self(), time.monotonic()
    result = execute(plan)
    return time.monotonic() - t0, cpu_self() - c0, result["results"][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=30)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        rows = []
        for hz in (0.0, 20.0, 100.0):
            wall, cpu, r = timed_run(out, "restart", args.iters, hz)
            samples = len(r["samples"])
            rows.append([hz, round(wall, 2), round(cpu, 3), round(100 * cpu / wall, 2), samples])
        print("orch's own CPU use (parent process), strategy restart, "
              f"{args.iters} iterations of ~{WORK_MS:.0f} ms of engine work:")
        print(render_table(["sample Hz", "wall s", "parent CPU s", "% of one core", "samples"], rows))
        print()
        rows = []
        for strategy in ("restart", "recreate", "fresh-process", "cli", "cli-interactive"):
            wall, cpu, r = timed_run(out, strategy, args.iters, 20.0)
            lat = r["summary"]["latency_ms_median"]
            per_iter = 1000 * wall / args.iters
            rows.append([strategy, round(per_iter, 1), round(lat, 1), round(lat - WORK_MS, 2),
                         round(per_iter - WORK_MS, 1)])
        print(f"Harness overhead per iteration (engine work {WORK_MS:.0f} ms, sampler 20 Hz):")
        print(render_table(["strategy", "wall ms/iter", "latency ms (p50)", "inside request ms",
                            "outside request ms"], rows))


if __name__ == "__main__":
    main()
