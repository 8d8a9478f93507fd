#!/usr/bin/env python3
"""Benchmark check (not a test): do orch's figures for a runtime agree with a bare loop of that
runtime's own API? (issue 21: TTFT median within 5%, RSS within 2%.)

Give it what a `scripts/bare_<runtime>.py ... --json` run printed (its last line is the JSON)
and the `--json` file of an `orch run --strategy restart` (or a compare with restart) with the same model, audio and
options. It sets the bare loop's TTFT median against orch's (`summary.ttft_ms_median`) and the
bare loop's median RSS after a request against the median of the worker's own RSS after each
measured iteration (`worker_rss_mb`: the worker process alone, as the bare loop is one
process), prints both with their ratio, and exits 1 if either is outside its tolerance.

    python scripts/bare_onnx.py M --audio A --requests 12 --threads 2 --json > bare.txt
    orch run --engine onnx --strategy restart --model M --audio A --iters 10 --warmup 2 \\
        --threads 2 --no-history --json orch.json
    python scripts/bare_agreement.py bare.txt orch.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

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


def bare_figures(text: str) -> dict[str, float]:
    """The JSON line a bare_<runtime>.py --json run ends with."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            figures: dict[str, float] = json.loads(line)
            return figures
    raise ValueError("no JSON line: run the bare script with --json")


def agreements(bare: dict[str, float], run: dict) -> list[Agreement]:
    """TTFT and RSS, bare against orch's restart result (a compare run's other strategies are left)."""
    restart = [result for result in run["results"] if result["strategy"] == "restart"]
    if len(restart) != 1 or restart[0]["status"] != "ok":
        found = ", ".join(f"{r['strategy']} {r['status']}" for r in run["results"])
        raise ValueError(f"orch's results are {found}: compare a run with one ok restart result")
    (result,) = restart
    measured = [it["worker_rss_mb"] for it in result["iterations"] if not it["warmup"] and it["worker_rss_mb"]]
    if not measured:
        raise ValueError("orch's run has no measured iteration with the worker's RSS")
    return [
        Agreement("TTFT ms p50", bare["ttft_ms_median"], result["summary"]["ttft_ms_median"], TTFT_TOLERANCE),
        Agreement("RSS MB p50", bare["rss_after_request_mb_median"], statistics.median(measured), RSS_TOLERANCE),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bare", type=Path, help="what bare_<runtime>.py --json printed")
    ap.add_argument("orch", type=Path, help="orch run --strategy restart --json FILE")
    args = ap.parse_args()
    try:
        found = agreements(
            bare_figures(args.bare.read_text(encoding="utf-8")), json.loads(args.orch.read_text(encoding="utf-8"))
        )
    except (OSError, ValueError, KeyError) as exc:
        print(f"bare_agreement: {exc}", file=sys.stderr)
        return 2
    for figure in found:
        print(figure.line())
    return 0 if all(figure.agrees for figure in found) else 1


if __name__ == "__main__":
    sys.exit(main())
