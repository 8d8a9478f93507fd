"""A/B of two load runs (`orch ab --load`, orchestrator.commands.ab): per level, A's and B's
p99 latency and goodput, B − A, and the max sustainable rate of each; a verdict and the exit
code (errors.ExitCode: 0 no regression, 3 regressed).

Levels are paired by their offered rate (open loop) or their concurrency (closed loop);
a level only one side ran is named, not compared.

- **p99 latency**: B − A of the levels' p99 (from arrival, ok requests); its 95% CI by a
  seeded bootstrap (BOOTSTRAP resamples of each side's latencies, the p99 of each, their
  difference) when both sides' request records are readable, else none (and the verdict
  says it judged on the threshold alone).
- **goodput** (requests/s meeting the SLO): B − A; only when both runs had an SLO.
- **max sustainable rate**: the highest offered rate up to which every level was sustained:
  valid (the generator kept its schedule), not saturated, no request failed, timed out or
  dropped, and (under an SLO) at least SUSTAINED_SLO_SHARE of its requests met it
  (results.load_run.LoadLevel.sustained).

Verdict (the first that applies): `regressed` — B failed or saturated at a level where A did
not, B's max sustainable rate is lower, or a level's p99 latency is worse (higher) by more
than `--speed-pct` % of A's with a CI that excludes 0, or its goodput lower by more than
`--speed-pct` %; `improved` — the same the other way, nothing worse; else `no difference`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from orchestrator.errors import ExitCode
from orchestrator.results.load_run import LoadLevel, LoadRun

BOOTSTRAP = 2000
SEED = 0


@dataclass
class Figure:
    """A figure of one paired level: A, B, B − A and its 95% CI (None: not computed)."""

    a: float | None
    b: float | None
    diff: float | None = None
    ci95: list[float] | None = None


@dataclass
class LevelComparison:
    level: str  # the level's arrivals (A's description)
    key: float  # what pairs it: its offered rate, or its concurrency
    p99_latency_ms: Figure
    goodput_rps: Figure
    sustained: tuple[bool, bool]  # (A, B)
    saturated: tuple[bool, bool]
    failed: tuple[int, int]  # failed + timed out


@dataclass
class LoadAB:
    a: str  # each side as given: a file, or orch load options
    b: str
    a_run_id: str | None
    b_run_id: str | None
    levels: list[LevelComparison]
    max_sustainable_rate: tuple[float | None, float | None]
    unpaired: list[str] = field(default_factory=list)
    verdict: str = "no difference"
    reasons: list[str] = field(default_factory=list)
    speed_pct: float = 5.0

    def to_json(self) -> dict:
        return {"schema": "orch.load-ab/1", **asdict(self)}

    @property
    def regressed(self) -> bool:
        return self.verdict == "regressed"


def _pair_key(lv: LoadLevel) -> float | None:
    return lv.offered_rate if lv.offered_rate is not None else (float(lv.concurrency) if lv.concurrency else None)


def _p99(values: np.ndarray) -> np.ndarray:
    return np.percentile(values, 99, axis=-1)  # linear interpolation, as load.levels.percentile


def bootstrap_p99_diff(a: list[float], b: list[float], resamples: int = BOOTSTRAP, seed: int = SEED) -> list[float]:
    """The 95% CI of p99(B) − p99(A): the 2.5th and 97.5th percentiles of `resamples`
    differences of resampled (with replacement) p99s; seeded, so the same data give the same CI."""
    rng = np.random.default_rng(seed)
    xa, xb = np.asarray(a, float), np.asarray(b, float)
    da = _p99(xa[rng.integers(0, len(xa), size=(resamples, len(xa)))])
    db = _p99(xb[rng.integers(0, len(xb), size=(resamples, len(xb)))])
    diffs = db - da
    return [float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))]


def latencies(run: LoadRun, source: Path | None) -> dict[int, list[float]] | None:
    """Each level's ok latencies (ms) from the run's request records (records_path, else
    requests.jsonl beside its result file); None when they cannot be read."""
    candidates = [Path(run.records_path)] if run.records_path else []
    if source is not None:
        candidates.append(source.parent / "requests.jsonl")
    for path in candidates:
        if not path.is_file():
            continue
        out: dict[int, list[float]] = {}
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                rec = json.loads(line)
                if rec.get("status") == "ok" and not rec.get("warmup") and rec.get("latency_ms") is not None:
                    out.setdefault(int(rec["level"]), []).append(float(rec["latency_ms"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        return out
    return None


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def _worse_by(fig: Figure, pct: float, higher_is_worse: bool) -> tuple[bool, bool]:
    """(worse, better) beyond `pct` % of A, with the CI excluding 0 when there is one."""
    if fig.diff is None or fig.a is None:
        return False, False
    limit = abs(fig.a) * pct / 100
    up = fig.diff > limit and (fig.ci95 is None or fig.ci95[0] > 0)
    down = -fig.diff > limit and (fig.ci95 is None or fig.ci95[1] < 0)
    return (up, down) if higher_is_worse else (down, up)


def compare(
    a: LoadRun,
    b: LoadRun,
    a_label: str,
    b_label: str,
    speed_pct: float = 5.0,
    a_source: Path | None = None,
    b_source: Path | None = None,
) -> LoadAB:
    """Pair the levels, compute the figures, judge."""
    lat_a, lat_b = latencies(a, a_source), latencies(b, b_source)
    b_by_key = {_pair_key(lv): lv for lv in b.levels}
    paired, unpaired = [], []
    for la in a.levels:
        key = _pair_key(la)
        lb = b_by_key.pop(key, None) if key is not None else None
        if lb is None or key is None:
            unpaired.append(f"A's {la.arrivals}")
            continue
        pa, pb = la.figure("latency_ms"), lb.figure("latency_ms")
        p99 = Figure(pa.p99 if pa else None, pb.p99 if pb else None)
        p99.diff = _diff(p99.a, p99.b)
        if p99.a is not None and p99.b is not None and lat_a and lat_b and lat_a.get(la.level) and lat_b.get(lb.level):
            p99.ci95 = bootstrap_p99_diff(lat_a[la.level], lat_b[lb.level])
        good = Figure(la.goodput_rps, lb.goodput_rps)
        good.diff = _diff(good.a, good.b)
        paired.append(
            LevelComparison(
                level=la.arrivals,
                key=key,
                p99_latency_ms=p99,
                goodput_rps=good,
                sustained=(la.sustained, lb.sustained),
                saturated=(la.saturated, lb.saturated),
                failed=(la.failed + la.timed_out, lb.failed + lb.timed_out),
            )
        )
    unpaired += [f"B's {lv.arrivals}" for lv in b_by_key.values()]
    out = LoadAB(
        a=a_label,
        b=b_label,
        a_run_id=a.run_id,
        b_run_id=b.run_id,
        levels=paired,
        max_sustainable_rate=(a.max_sustainable_rate, b.max_sustainable_rate),
        unpaired=unpaired,
        speed_pct=speed_pct,
    )
    _judge(out, with_ci=lat_a is not None and lat_b is not None)
    return out


def _judge(ab: LoadAB, with_ci: bool) -> None:
    worse: list[str] = []
    better: list[str] = []
    for c in ab.levels:
        if c.failed[1] and not c.failed[0]:
            worse.append(f"{c.level}: {c.failed[1]} request(s) failed or timed out on B, none on A")
        elif c.failed[0] and not c.failed[1]:
            better.append(f"{c.level}: no request failed on B ({c.failed[0]} on A)")
        if c.saturated[1] and not c.saturated[0]:
            worse.append(f"{c.level}: saturated on B, not on A")
        elif c.saturated[0] and not c.saturated[1]:
            better.append(f"{c.level}: saturated on A, not on B")
        for fig, name, higher_is_worse, unit in (
            (c.p99_latency_ms, "p99 latency", True, "ms"),
            (c.goodput_rps, "goodput", False, "req/s"),
        ):
            w, bt = _worse_by(fig, ab.speed_pct, higher_is_worse)
            if w or bt:
                ci = f" [{fig.ci95[0]:+.1f}, {fig.ci95[1]:+.1f}]" if fig.ci95 else ""
                text = f"{c.level}: {name} {fig.a:.1f} -> {fig.b:.1f} {unit} (B − A {fig.diff:+.1f}{ci})"
                (worse if w else better).append(text)
    ra, rb = ab.max_sustainable_rate
    if ra is not None and (rb is None or rb < ra):
        worse.append(f"max sustainable rate {ra:g} -> {'none' if rb is None else f'{rb:g}'} req/s")
    elif rb is not None and (ra is None or rb > ra):
        better.append(f"max sustainable rate {'none' if ra is None else f'{ra:g}'} -> {rb:g} req/s")
    if ab.unpaired:
        ab.reasons.append(f"not compared (run by one side only): {', '.join(ab.unpaired)}")
    if not with_ci:
        ab.reasons.append("no request records for one side: p99 latency judged on the threshold alone, without a CI")
    if worse:
        ab.verdict = "regressed"
        ab.reasons.append("B is worse: " + "; ".join(worse))
    elif better:
        ab.verdict = "improved"
        ab.reasons.append("B is better: " + "; ".join(better))
    else:
        ab.verdict = "no difference"
        ab.reasons.append(f"no level differs beyond {ab.speed_pct:g}% (with a CI that excludes 0)")


AB_LOAD_HEADERS = [
    "level",
    "p99 latency A ms",
    "p99 latency B ms",
    "B − A ms",
    "95% CI",
    "goodput A/s",
    "goodput B/s",
    "sustained A/B",
    "saturated A/B",
    "failed A/B",
]


def table_rows(ab: LoadAB) -> list[list]:
    def r(v, nd=1):
        return None if v is None else round(v, nd) + 0.0

    def yn(pair):
        return "/".join("yes" if x else "no" for x in pair)

    rows = []
    for c in ab.levels:
        p, g = c.p99_latency_ms, c.goodput_rps
        ci = f"[{p.ci95[0]:+.1f}, {p.ci95[1]:+.1f}]" if p.ci95 else None
        rows.append(
            [
                c.level,
                r(p.a),
                r(p.b),
                r(p.diff),
                ci,
                r(g.a, 2),
                r(g.b, 2),
                yn(c.sustained),
                yn(c.saturated),
                f"{c.failed[0]}/{c.failed[1]}",
            ]
        )
    return rows


def summary_lines(ab: LoadAB) -> list[str]:
    ra, rb = ab.max_sustainable_rate

    def rate(x):
        return "none" if x is None else f"{x:g} req/s"

    return [
        f"max sustainable rate: A {rate(ra)}, B {rate(rb)}",
        f"verdict: {ab.verdict}",
        *[f"  {reason}" for reason in ab.reasons],
    ]


def exit_code(ab: LoadAB) -> ExitCode:
    return ExitCode.REGRESSED if ab.regressed else ExitCode.OK
