#!/usr/bin/env python3
"""Benchmark check (not a test): do orch's figures for a runtime agree with a bare loop of that
runtime's own API? (issue 21: TTFT median within 5%, RSS within 2%.)

Give it what `scripts/bare_<runtime>.py ... --json` runs printed (the last line is the JSON)
and the `--json` files of `orch run --strategy restart` runs (or compares with restart) with
the same model, audio and options, read through orch's own result model (`RunResult`). It sets
the bare loop's TTFT median against orch's (`summary.ttft_ms_median`) and the bare loop's
median RSS after a request against the median of the worker's own RSS after each measured
iteration (`worker_rss_mb`: the worker process alone, as the bare loop is one process),
prints both with their ratio, and exits 1 if either is outside its tolerance.

The per-request time of a runtime drifts over minutes on a shared VM (±10% here), so give it
several runs of each, interleaved (bare, orch, orch, bare cancels a steady drift): it compares
the means of the runs' medians and prints how far each side's own runs are apart.

    python scripts/bare_onnx.py M --audio A --requests 10 --threads 2 --json > bare1.txt
    orch run --engine onnx --strategy restart --model M --audio A --iters 10 --warmup 2 \\
        --threads 2 --no-history --json orch1.json
    ... orch2.json, bare2.txt the same way
    python scripts/bare_agreement.py --bare bare1.txt bare2.txt --orch orch1.json orch2.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, as the others

from orchestrator.results.model import RunResult, Status  # noqa: E402

TTFT_TOLERANCE = 0.05
RSS_TOLERANCE = 0.02


@dataclass(frozen=True)
class Agreement:
    """One figure measured both ways and how far apart they are."""

    name: str
    bare: float
    orch: float
    tolerance: float

    @property
    def difference(self) -> float:
        """orch's figure relative to the bare loop's (+0.03 = orch 3% higher)."""
        return self.orch / self.bare - 1

    @property
    def agrees(self) -> bool:
        return abs(self.difference) <= self.tolerance

    def line(self) -> str:
        verdict = "agrees" if self.agrees else "DIFFERS"
        return (
            f"{self.name:<13} bare {self.bare:10.1f}  orch {self.orch:10.1f}  "
            f"{self.difference * 100:+6.2f}% (within ±{self.tolerance * 100:.0f}%: {verdict})"
        )


@dataclass(frozen=True)
class RunFigures:
    """What one run, bare or orch, gives: its TTFT median and its median RSS after a request."""

    ttft_ms: float
    rss_mb: float


def bare_run(text: str) -> RunFigures:
    """The JSON line a bare_<runtime>.py --json run ends with."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            figures = json.loads(line)
            return RunFigures(figures["ttft_ms_median"], figures["rss_after_request_mb_median"])
    raise ValueError("no JSON line: run the bare script with --json")


def orch_run(run: RunResult) -> RunFigures:
    """orch's restart result (a compare run's other strategies are left)."""
    restart = [result for result in run.results if result.strategy == "restart"]
    if len(restart) != 1 or restart[0].status is not Status.OK or restart[0].summary is None:
        found = ", ".join(f"{r.strategy} {r.status}" for r in run.results)
        raise ValueError(f"orch's results are {found}: compare a run with one ok restart result")
    (result,) = restart
    measured = [it.worker_rss_mb for it in result.iterations if not it.warmup and it.worker_rss_mb]
    if not measured or result.summary.ttft_ms_median is None:
        raise ValueError("orch's restart result has no measured iteration with a TTFT and the worker's RSS")
    return RunFigures(result.summary.ttft_ms_median, statistics.median(measured))


def agreements(bare: list[RunFigures], orch: list[RunFigures]) -> list[Agreement]:
    """TTFT and RSS, the mean over the bare runs against the mean over orch's."""
    return [
        Agreement(
            "TTFT ms p50",
            statistics.fmean(r.ttft_ms for r in bare),
            statistics.fmean(r.ttft_ms for r in orch),
            TTFT_TOLERANCE,
        ),
        Agreement(
            "RSS MB p50",
            statistics.fmean(r.rss_mb for r in bare),
            statistics.fmean(r.rss_mb for r in orch),
            RSS_TOLERANCE,
        ),
    ]


def spread(runs: list[RunFigures]) -> float:
    """How far one side's own runs are apart in TTFT (largest over smallest, - 1): the host's
    and the runtime's repeatability, which no agreement can be finer than."""
    ttfts = [r.ttft_ms for r in runs]
    return max(ttfts) / min(ttfts) - 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bare", type=Path, nargs="+", required=True, help="what bare_<runtime>.py --json printed")
    ap.add_argument("--orch", type=Path, nargs="+", required=True, help="orch run --strategy restart --json FILE")
    args = ap.parse_args()
    try:
        bare = [bare_run(path.read_text(encoding="utf-8")) for path in args.bare]
        orch = [orch_run(RunResult.from_json(json.loads(path.read_text(encoding="utf-8")))) for path in args.orch]
    except (OSError, ValueError, KeyError) as exc:
        print(f"bare_agreement: {exc}", file=sys.stderr)
        return 2
    found = agreements(bare, orch)
    for figure in found:
        print(figure.line())
    for side, runs in (("bare", bare), ("orch", orch)):
        if len(runs) > 1:
            print(
                f"{side} runs' TTFT medians: {', '.join(f'{r.ttft_ms:.1f}' for r in runs)} (apart by {spread(runs) * 100:.2f}%)"
            )
    return 0 if all(figure.agrees for figure in found) else 1


if __name__ == "__main__":
    sys.exit(main())
