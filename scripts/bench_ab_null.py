"""How often does `orch ab` say "no difference", with every CI containing 0, when both sides
are the same plan? Repeats an A/A run on the calibration engine N times (default 20) and
prints the count (docs/ab.md). Not a timed test: about 2 s per repeat on an idle 2-core
machine.

    python scripts/bench_ab_null.py [--repeats 20] [--rounds 3] [--iters 12] [--strategies restart]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.cli import main  # noqa: E402
from orchestrator.results.model import AB_METRICS, ABVerdict, RunResult  # noqa: E402


def one(tmp: Path, k: int, args) -> RunResult:
    out = tmp / f"r{k}.json"
    res = CliRunner().invoke(
        main,
        [
            "ab",
            "--a",
            "",
            "--b",
            "",
            "--strategies",
            args.strategies,
            "--iters",
            str(args.iters),
            "--warmup",
            "2",
            "--rounds",
            str(args.rounds),
            "--ttft-ms",
            "5",
            "--token-ms",
            "1",
            "--no-history",
            "--out",
            str(tmp / "o"),
            "--json",
            str(out),
        ],
    )
    if not out.exists():
        raise SystemExit(f"repeat {k}: orch ab exited {res.exit_code}: {res.output}")
    return RunResult.from_json(json.loads(out.read_text()))


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=12)
    ap.add_argument("--strategies", default="restart")
    args = ap.parse_args()
    no_diff = all_contain = both = 0
    misses: dict[str, int] = {m: 0 for m in AB_METRICS}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(1, args.repeats + 1):
            result = one(Path(tmp), k, args)
            nd = contain = True
            cells = []
            for entry in result.results:
                ab = entry.ab
                nd &= ab.verdict is ABVerdict.NO_DIFFERENCE
                for name in AB_METRICS:
                    m = ab.metric(name)
                    ok = m is None or m.ci95 is None or m.ci95[0] <= 0 <= m.ci95[1]
                    if not ok:
                        misses[name] += 1
                    contain &= ok
                    if m is not None and m.ci95 is not None:
                        cells.append(f"{name} {m.diff:+.4g} [{m.ci95[0]:+.4g}, {m.ci95[1]:+.4g}]")
                cells.append(str(ab.verdict))
            no_diff += nd
            all_contain += contain
            both += nd and contain
            print(f"{k:2d}: " + "; ".join(cells), flush=True)
    n = args.repeats
    print(f"\n'no difference': {no_diff} of {n}; every CI contains 0: {all_contain} of {n}; both: {both} of {n}")
    print("CIs missing 0, per figure: " + ", ".join(f"{k} {v}" for k, v in misses.items()))


if __name__ == "__main__":
    main_()
