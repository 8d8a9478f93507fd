"""Does `orch selftest` (the README's first command; docs/selftest.md) pass on a busy host? Keeps every core
busy with a `yes > /dev/null` per core (or --busy N), runs `orch selftest` N times (default
20), stops the busy loops, and prints per run its exit code, time and closing tally, then the
count of runs that exited 0 and the checks that were inconclusive or failed. Not a timed
test: about a minute per run.

    python scripts/bench_selftest_busy.py [--repeats 20] [--busy 2]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one() -> tuple[int, float, str, list[str]]:
    """(exit code, seconds, the tally line, the lines naming checks that did not pass)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", "selftest", "--format", "csv"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    seconds = time.monotonic() - t0
    lines = proc.stderr.strip().splitlines()
    tally = lines[-1] if lines else "(no output)"
    odd = [line.strip() for line in lines if re.match(r"\s+(MISS|\?\?|again) ", line)]
    return proc.returncode, seconds, tally, odd


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--busy", type=int, default=os.cpu_count() or 1, help="busy loops (default: one per CPU)")
    args = ap.parse_args()
    spinners = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(args.busy)]
    results = []
    try:
        time.sleep(5)  # let the load show
        for k in range(1, args.repeats + 1):
            load = os.getloadavg()[0]
            code, seconds, tally, odd = one()
            results.append((code, seconds, tally, odd))
            print(f"run {k:2d}: exit {code}, {seconds:5.1f} s, load {load:.2f}: {tally}", flush=True)
            for line in odd:
                print(f"        {line}", flush=True)
    finally:
        for p in spinners:
            p.terminate()
        for p in spinners:
            p.wait()
    times = [s for _, s, _, _ in results]
    passed = sum(1 for c, *_ in results if c == 0)
    print(
        f"{passed} of {len(results)} exited 0 with {args.busy} busy loop(s); "
        f"time min {min(times):.0f} s, median {statistics.median(times):.0f} s, max {max(times):.0f} s"
    )
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
