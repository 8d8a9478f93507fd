"""Change-point libraries on orch's synthetic soak histories (docs/history.md, "Change points").

For each method and each kind of series (orchestrator.history.changepoints.synthetic: a step
of +0.3 MB/iter at run 20 of 40, a +1%/run TTFT creep from run 20, one spike, noise only),
over seeds 0..S-1: how often the change is found within ±2 runs (and as the only one), how
often a spike or plain noise makes any change point, and the time per series.

The libraries cannot share one environment (signal-processing-algorithms needs numpy < 2,
apache-otava numpy 2.2.*), so run this in each, with the methods it has:

    python scripts/compare_changepoints.py --methods orch,ruptures-l2 --seeds 100
    # a virtualenv with signal-processing-algorithms and ruptures (numpy 1.26 there):
    SPA_VENV/bin/python scripts/compare_changepoints.py --methods edivisive --seeds 100
    # a virtualenv with apache-otava and ruptures (numpy 2.2 there):
    OTAVA_VENV/bin/python scripts/compare_changepoints.py --methods otava,otava-orig --seeds 100

`+min` after a method: its change points with a segment shorter than 5 runs dropped (the
minimum segment length orch uses); without it, the library's own output.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.history import changepoints as cp  # noqa: E402

MIN_SIZE = 5
KINDS = ("step", "creep", "spike", "flat")


def min_segments(points: list[int], n: int, least: int = MIN_SIZE) -> list[int]:
    kept: list[int] = []
    for p in sorted(points):
        if p - (kept[-1] if kept else 0) >= least and n - p >= least:
            kept.append(p)
    return kept


def m_orch(y, seed):
    return [f.index for f in cp.detect(y)]


def m_ruptures_l2(y, seed):
    import ruptures

    arr = np.asarray(y, float)
    sigma = max(cp.noise_sd(arr), 1e-9)
    return [
        b
        for b in ruptures.Pelt(model="l2", min_size=MIN_SIZE, jump=1)
        .fit(arr)
        .predict(pen=3 * math.log(len(arr)) * sigma**2)
        if b < len(arr)
    ]


def m_edivisive(y, seed):
    from signal_processing_algorithms.energy_statistics.energy_statistics import e_divisive

    np.random.seed(seed)  # its permutation test draws from numpy's global generator
    return sorted(e_divisive(np.asarray(y, float), pvalue=0.05, permutations=100))


def m_otava(y, seed):
    from otava.analysis import compute_change_points

    found, _weak = compute_change_points(list(map(float, y)), window_len=50, max_pvalue=0.001)
    return sorted(c.index for c in found)


def m_otava_orig(y, seed):
    from otava.analysis import compute_change_points_orig

    found, _ = compute_change_points_orig(list(map(float, y)), max_pvalue=0.001, seed=seed)
    return sorted(c.index for c in found)


METHODS = {
    "orch": m_orch,
    "ruptures-l2": m_ruptures_l2,
    "edivisive": m_edivisive,
    "otava": m_otava,
    "otava-orig": m_otava_orig,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="orch,ruptures-l2")
    ap.add_argument("--seeds", type=int, default=100)
    args = ap.parse_args()
    data = {k: [cp.synthetic(k, s) for s in range(args.seeds)] for k in KINDS}
    print(
        f"{'method':<16} {'step ±2 (only)':>16} {'creep ±2 (only)':>16} {'spike: any':>11} {'flat: any':>10} "
        f"{'ms/series':>10}"
    )
    for name in args.methods.split(","):
        fn = METHODS[name]
        raw: dict[str, list[list[int]]] = {}
        t0 = time.perf_counter()
        for kind in KINDS:
            raw[kind] = [fn(y, s) for s, y in enumerate(data[kind])]
        ms = (time.perf_counter() - t0) * 1000 / (len(KINDS) * args.seeds)
        variants = [(name, raw)]
        if name not in ("orch", "ruptures-l2"):  # those have min_size built in
            variants.append((name + "+min", {k: [min_segments(r, 40) for r in v] for k, v in raw.items()}))
        for label, res in variants:
            cells = []
            for kind in ("step", "creep"):
                near = sum(1 for r in res[kind] if any(abs(i - 20) <= 2 for i in r))
                only = sum(1 for r in res[kind] if len(r) == 1 and abs(r[0] - 20) <= 2)
                cells.append(f"{near:>3}/{args.seeds} ({only:>3})")
            cells += [f"{sum(1 for r in res[k] if r):>3}/{args.seeds}" for k in ("spike", "flat")]
            print(f"{label:<16} {cells[0]:>16} {cells[1]:>16} {cells[2]:>11} {cells[3]:>10} {ms:>10.1f}", flush=True)


if __name__ == "__main__":
    main()
