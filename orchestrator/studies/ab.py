"""An A/B run (`orch ab --a "OPTIONS" --b "OPTIONS"`, orchestrator.commands.ab): one plan run on two sides that differ in anything
`orch compare` takes (a chatllm.cpp checkout or library, threads, an engine argument; on
the calibration engine a leak size), alternating strategy by strategy (A's restart, B's
restart, A's recreate, …), repeated `--rounds` times; then, per strategy and figure, A, B,
B − A with a 95% confidence interval, and a verdict.

Each side's OPTIONS are split like a shell (shlex) and parsed by `orch compare`'s own
option parser (click); what a side gives overrides the options given to `orch ab` itself.
Each side is a full plan made by `RunPlan.build`, checked before any worker starts.

The statistics (docs/ab.md):

- memory growth per iteration: each side-round's Theil–Sen slope with its 95% CI
  (analysis.summarize); B − A per round, averaged over the rounds;
- TTFT and tokens/s: per round, the Hodges–Lehmann shift (median of every B − A pairwise
  difference of the measured iterations) with its Mann–Whitney-based 95% CI; averaged over
  the rounds;
- over rounds, each figure's CI uses the larger of two standard errors: the rounds' own
  CIs (as normal standard errors, combined) and the spread of the per-round differences
  (with Student's t on rounds − 1 degrees of freedom when that is the larger), so drift
  between rounds widens the interval instead of passing for a difference.

Verdicts: `regressed` (B fails where A does not, B is worse beyond the thresholds with a
CI that excludes 0, or B's transcript changes under greedy decoding where A's does not),
`fixed` (A's memory grows and B's does not, or A's transcript changes and B's does not), `still grows` (B's memory
grows), `improved` (B better in a figure, nothing above), `no difference`.

Exit codes (errors.ExitCode): 0 no regression, 3 a strategy regressed, 2 the run could not
start, 130 Ctrl-C (143 SIGTERM, 129 SIGHUP: the same) (what was measured is written and stored first).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from orchestrator import stop_signals
from orchestrator.errors import ExitCode, OrchError, WriteFailed
from orchestrator.results import drift, figures
from orchestrator.results.atomic import write_json_atomic
from orchestrator.results.model import (
    ABComparison,
    ABMetric,
    ABRound,
    ABVerdict,
    RunResult,
    Status,
    StrategyResult,
    Thresholds,
)
from orchestrator.run import runner, worker_config
from orchestrator.run.plan import RunPlan, new_run_id

Z95 = 1.959963984540054


# --------------------------------------------------------------------------- statistics
@dataclass
class Estimate:
    """A figure with its 95% CI (lo/hi None: too few values to say)."""

    value: float
    lo: float | None = None
    hi: float | None = None

    @property
    def ci(self) -> list[float] | None:
        return None if self.lo is None or self.hi is None else [self.lo, self.hi]

    def excludes_zero(self) -> bool:
        return self.lo is not None and self.hi is not None and (self.lo > 0 or self.hi < 0)


def hodges_lehmann(a: list[float], b: list[float], alpha: float = 0.05) -> Estimate | None:
    """The shift of b against a: the median of every pairwise difference b_j − a_i, with the
    distribution-free CI that inverts the Mann–Whitney test (Lehmann 1963): the k-th
    smallest and k-th largest differences, k from U's exact distribution when both samples
    are under 50 and have no ties (as R's wilcox.test), else from its normal approximation
    with continuity correction. None without values on both sides; no CI (lo, hi None) when
    the samples are too small for one at this level."""
    if not a or not b:
        return None

    diffs = np.sort((np.asarray(b, float)[:, None] - np.asarray(a, float)[None, :]).ravel())
    m, n, total = len(a), len(b), len(a) * len(b)
    shift = float(np.median(diffs))
    if m < 50 and n < 50 and len(set(a) | set(b)) == m + n:  # no ties: U's exact distribution
        k = _exact_u_quantile(m, n, alpha / 2) - 1
    else:
        z = float(stats.norm.ppf(1 - alpha / 2))
        k = int(math.floor(total / 2 - z * math.sqrt(total * (m + n + 1) / 12) - 0.5))
    if k < 0:
        return Estimate(shift)
    return Estimate(shift, float(diffs[k]), float(diffs[total - 1 - k]))


def _exact_u_quantile(m: int, n: int, p: float) -> int:
    """The smallest c with P(U <= c) > p for the Mann–Whitney U of samples of m and n without
    ties (R's qwilcox): U's counts are the coefficients of the Gaussian binomial
    [m+n choose m]_q = prod_{k=1..m} (1 - q^(n+k)) / (1 - q^k), in exact integers."""
    size = m * n + 1
    poly = [1] + [0] * (size - 1)
    for k in range(1, m + 1):
        for i in range(size - 1, n + k - 1, -1):  # times (1 - q^(n+k))
            poly[i] -= poly[i - n - k]
        for i in range(k, size):  # divided by (1 - q^k): a running sum with stride k
            poly[i] += poly[i - k]
    total, cum = math.comb(m + n, m), 0
    for c, count in enumerate(poly):
        cum += count
        if cum > p * total:
            return c
    return size - 1


def combine(rounds: list[Estimate]) -> Estimate | None:
    """One figure from several rounds' estimates: their mean; its CI from the larger of the
    within-round standard error (each round's CI read as ±1.96 standard errors, combined)
    and the between-round one (the spread of the estimates; Student's t on R − 1 degrees of
    freedom when it is the larger). One round: its own CI."""
    if not rounds:
        return None
    if len(rounds) == 1:
        return rounds[0]
    values = [r.value for r in rounds]
    mean = statistics.fmean(values)
    within = None
    spans = [r.hi - r.lo for r in rounds if r.lo is not None and r.hi is not None]
    if len(spans) == len(rounds):
        within = math.sqrt(sum((span / (2 * Z95)) ** 2 for span in spans)) / len(rounds)
    between = statistics.stdev(values) / math.sqrt(len(values))
    if within is not None and within >= between:
        half = Z95 * within
    else:
        half = float(stats.t.ppf(0.975, len(values) - 1)) * between
    return Estimate(mean, mean - half, mean + half)


MEMORY = figures.get("growth_mb_per_iter")


def _growth(entry: StrategyResult | None, fig: figures.Figure = MEMORY) -> Estimate | None:
    """A growth figure's slope and CI (memory's, or a resource's: results.figures)."""
    s = entry.summary if entry is not None else None
    value = fig.of(s)
    if value is None:
        return None
    ci = fig.ci_of(s)
    lo, hi = ci if ci else (None, None)
    return Estimate(value, lo, hi)


def _values(entry: StrategyResult | None, key: str) -> list[float]:
    """A figure of each measured iteration; tokens/s only where the output streamed (a burst's
    tokens/s is no generation speed)."""
    if entry is None:
        return []
    return [
        float(v)
        for it in entry.measured()
        if (v := getattr(it, key)) is not None and not (key == "tokens_per_s" and it.streamed is False)
    ]


def _usable(entry: StrategyResult | None) -> bool:
    return entry is not None and entry.status.fine and entry.status is not Status.SKIPPED


def growth_metric(rounds: list[ABRound], fig: figures.Figure = MEMORY) -> ABMetric | None:
    """Growth per iteration (memory's, or a resource's): each side's mean slope over its
    rounds (CI by `combine`), and B − A per round (CI: the two slopes' CIs combined, then
    `combine` over rounds)."""
    a = [g for r in rounds if _usable(r.a) and (g := _growth(r.a, fig))]
    b = [g for r in rounds if _usable(r.b) and (g := _growth(r.b, fig))]
    diffs = []
    for r in rounds:
        ga = _growth(r.a, fig) if _usable(r.a) else None
        gb = _growth(r.b, fig) if _usable(r.b) else None
        if ga is None or gb is None:
            continue
        if None in (ga.lo, ga.hi, gb.lo, gb.hi):
            diffs.append(Estimate(gb.value - ga.value))
            continue
        se = math.hypot((ga.hi - ga.lo) / (2 * Z95), (gb.hi - gb.lo) / (2 * Z95))  # type: ignore[operator]
        d = gb.value - ga.value
        diffs.append(Estimate(d, d - Z95 * se, d + Z95 * se))
    ea, eb, ed = combine(a), combine(b), combine(diffs)
    if ea is None and eb is None:
        return None
    return ABMetric(
        a=ea.value if ea else None,
        b=eb.value if eb else None,
        diff=ed.value if ed else None,
        ci95=ed.ci if ed else None,
        a_ci95=ea.ci if ea else None,
        b_ci95=eb.ci if eb else None,
        method=f"Theil–Sen slope per side and round; B − A over {len(diffs)} paired round(s)",
    )


def shift_metric(rounds: list[ABRound], key: str) -> ABMetric | None:
    """TTFT or tokens/s: A and B the medians of each side's measured iterations (all rounds);
    B − A the Hodges–Lehmann shift per round with its Mann–Whitney CI, combined over rounds."""
    a_all = [v for r in rounds if _usable(r.a) for v in _values(r.a, key)]
    b_all = [v for r in rounds if _usable(r.b) for v in _values(r.b, key)]
    if not a_all and not b_all:
        return None
    per_round = []
    for r in rounds:
        if _usable(r.a) and _usable(r.b):
            est = hodges_lehmann(_values(r.a, key), _values(r.b, key))
            if est is not None:
                per_round.append(est)
    ed = combine(per_round)
    return ABMetric(
        a=statistics.median(a_all) if a_all else None,
        b=statistics.median(b_all) if b_all else None,
        diff=ed.value if ed else None,
        ci95=ed.ci if ed else None,
        method=f"Hodges–Lehmann shift with its Mann–Whitney CI over {len(per_round)} paired round(s)",
    )


def _failed(entries: list[StrategyResult | None]) -> list[str]:
    """What went wrong on one side (Ctrl-C is no failure of the side: its rounds are only cut short)."""
    return [
        f"{e.status}" + (f" ({e.error.splitlines()[0]})" if e.error else "")
        for e in entries
        if e is not None and not e.status.fine and e.status is not Status.INTERRUPTED
    ]


def _grows(value: float | None, ci: list[float] | None, threshold: float) -> bool:
    return value is not None and ci is not None and ci[0] > 0 and value >= threshold


def _interrupted_note(rounds: list[ABRound]) -> str | None:
    """The reason naming the side-rounds Ctrl-C cut short, or None."""
    cut = [
        f"{label} round {r.round}"
        for r in rounds
        for label, e in (("A", r.a), ("B", r.b))
        if e is not None and e.status is Status.INTERRUPTED
    ]
    if cut:
        return f"interrupted ({stop_signals.reason()}): {', '.join(cut)} cut short; judged on what was measured"
    return None


def _skipped_note(rounds: list[ABRound]) -> str | None:
    """The reason when every side of every round was skipped (not applicable), or None."""
    sides = [e for r in rounds for e in (r.a, r.b) if e is not None]
    if sides and all(e.status is Status.SKIPPED for e in sides):
        return f"not applicable: {sides[0].error or 'skipped'}"
    return None


def _worse_better(
    m: ABMetric | None, higher_is_worse: bool, unit_threshold: float | None, speed_pct: float
) -> tuple[bool, bool]:
    """(worse, better): B − A's CI excludes 0 and the shift passes the threshold (without a
    unit threshold: speed_pct % of A)."""
    if m is None or m.diff is None or m.ci95 is None:
        return False, False
    limit = (
        unit_threshold if unit_threshold is not None else (abs(m.a) * speed_pct / 100 if m.a is not None else math.inf)
    )
    up = m.ci95[0] > 0 and m.diff >= limit
    down = m.ci95[1] < 0 and -m.diff >= limit
    return (up, down) if higher_is_worse else (down, up)


def _fig(m: ABMetric | None, name: str, nd: int) -> str:
    """One figure's B − A with its CI, as a reason shows it."""
    if m is None or m.diff is None:
        return f"{name}: not compared"
    ci = f" [{m.ci95[0]:+.{nd}f}, {m.ci95[1]:+.{nd}f}]" if m.ci95 else " (no CI: too few values)"
    return f"{name} B − A {m.diff:+.{nd}f}{ci}"


def _flagged_figs(
    flags: tuple[bool, bool, bool], growth: ABMetric | None, ttft: ABMetric | None, tps: ABMetric | None
) -> list[str]:
    """`_fig` of each of growth, TTFT and tokens/s whose flag is set."""
    return [
        _fig(m, n, nd)
        for w, m, n, nd in (
            (flags[0], growth, "growth MB/iter", 3),
            (flags[1], ttft, "TTFT ms", 2),
            (flags[2], tps, "tok/s", 1),
        )
        if w
    ]


def _failure_verdict(a_failed: list[str], b_failed: list[str], reasons: list[str]) -> ABVerdict | None:
    """The verdict when B failed, or both sides did (its reason appended); else None."""
    if b_failed and not a_failed:
        reasons.append("B failed where A did not: " + "; ".join(b_failed))
        return ABVerdict.REGRESSED
    if a_failed and b_failed:
        reasons.append(f"both sides failed: A {'; '.join(a_failed)}; B {'; '.join(b_failed)}")
        return ABVerdict.NO_DIFFERENCE
    return None


def _verdict(
    rounds: list[ABRound],
    growth: ABMetric | None,
    ttft: ABMetric | None,
    tps: ABMetric | None,
    th: float,
    speed_pct: float,
    reasons: list[str],
) -> ABVerdict:
    """The first verdict that applies (failures, regressed, fixed, still grows, improved, no
    difference), its reasons appended to `reasons`."""
    a_failed, b_failed = _failed([r.a for r in rounds]), _failed([r.b for r in rounds])
    g_worse, g_better = _worse_better(growth, True, th, speed_pct)
    t_worse, t_better = _worse_better(ttft, True, None, speed_pct)
    s_worse, s_better = _worse_better(tps, False, None, speed_pct)
    a_grows = growth is not None and _grows(growth.a, growth.a_ci95, th)
    b_grows = growth is not None and _grows(growth.b, growth.b_ci95, th)
    # memory that falls is no leak: a growth difference between two sides of which neither
    # grows (A shrinking, B flat; or the other way) is neither a regression nor a fix
    if (g_worse or g_better) and not a_grows and not b_grows:
        reasons.append(
            f"{_fig(growth, 'growth MB/iter', 3)} not judged: neither side's memory grows (falling is no leak)"
        )
        g_worse = g_better = False
    failed = _failure_verdict(a_failed, b_failed, reasons)
    if failed is not None:
        return failed
    text_worse, text_better = drift.ab_judgement([r.a for r in rounds], [r.b for r in rounds])
    worse = _flagged_figs((g_worse, t_worse, s_worse), growth, ttft, tps) + ([text_worse] if text_worse else [])
    if worse:
        reasons.append("B is worse: " + "; ".join(worse))
        if a_grows and not b_grows:
            reasons.append("(its memory no longer grows)")
        return ABVerdict.REGRESSED
    if a_failed:
        reasons.append("A failed, B runs: " + "; ".join(a_failed))
        if b_grows and growth is not None and growth.b is not None:
            reasons.append(f"B's memory grows {growth.b:+.3f} MB/iter")
        return ABVerdict.STILL_GROWS if b_grows else ABVerdict.FIXED
    if text_better:  # a transcript that no longer changes: a correctness bug fixed
        reasons.append(text_better)
        return ABVerdict.FIXED
    if a_grows and not b_grows and g_better:
        reasons.append(f"A's memory grows, B's does not: {_fig(growth, 'growth MB/iter', 3)}")
        return ABVerdict.FIXED
    if b_grows:
        assert growth is not None
        reasons.append(
            f"B's memory grows {growth.b:+.3f} MB/iter (A {growth.a:+.3f}); " + _fig(growth, "growth MB/iter", 3)
        )
        return ABVerdict.STILL_GROWS
    better = _flagged_figs((g_better, t_better, s_better), growth, ttft, tps)
    if better:
        reasons.append("B is better: " + "; ".join(better))
        return ABVerdict.IMPROVED
    reasons.append("no figure differs beyond its threshold with a CI that excludes 0")
    return ABVerdict.NO_DIFFERENCE


def judge(rounds: list[ABRound], thresholds: Thresholds, speed_pct: float) -> ABComparison:
    """The A/B block of one strategy: its figures and the verdict, with the reasons."""
    growth = growth_metric(rounds)
    ttft, tps = shift_metric(rounds, "ttft_ms"), shift_metric(rounds, "tokens_per_s")
    out = ABComparison(growth_mb_per_iter=growth, ttft_ms=ttft, tokens_per_s=tps, rounds=list(rounds))
    for fig in figures.ab_figures():
        if fig.kind == "resource" and (m := growth_metric(rounds, fig)) is not None:
            out.resources[fig.name] = m
    cut = _interrupted_note(rounds)
    if cut:
        out.reasons.append(cut)
    skipped = _skipped_note(rounds)
    if skipped:
        out.reasons.append(skipped)
        out.verdict = ABVerdict.NO_DIFFERENCE
        return out
    out.verdict = _verdict(rounds, growth, ttft, tps, thresholds.growth_mb_per_iter, speed_pct, out.reasons)
    return out


# --------------------------------------------------------------------------- the sides
@dataclass
class Side:
    label: str  # "A" or "B"
    text: str  # the OPTIONS as given
    kw: dict
    plan: RunPlan
    notes: list[str]


def merged(a: dict, b: dict) -> dict:
    """What both sides share, and under `ab` what differs ({"a": …, "b": …})."""
    common = {k: v for k, v in a.items() if k in b and b[k] == v}
    out = dict(common)
    da = {k: v for k, v in a.items() if k not in common}
    db = {k: v for k, v in b.items() if k not in common}
    if da or db:
        out["ab"] = {"a": da, "b": db}
    return out


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class ABRun:
    result: RunResult
    interrupted: bool
    run_dir: Path
    write_failed: OrchError | None = None  # a full disk stopped the rounds (exit 1, one line)


def _run_side(side: Side, strategy: str, out_dir: Path, echo, note: str, progress) -> tuple[RunResult, bool]:
    """One side's run of one strategy in `out_dir`: (its result, whether Ctrl-C cut it short);
    runner.RunWriteFailed when the disk refused its results."""
    plan = dataclasses.replace(
        side.plan,
        strategies=[strategy],
        run_id=strategy,
        json_path=None,
        out_dir=out_dir,
    )
    echo(note)
    try:
        return runner.execute(plan, progress_factory=progress(plan, f"{side.label} ")), False
    except runner.RunInterrupted as exc:
        return exc.result, True


def _run_rounds(
    sides: list[Side], strategies: list[str], rounds: int, run_dir: Path, echo, progress
) -> tuple[dict[str, list[ABRound]], dict, bool, OrchError | None]:
    """Per round, per strategy, A then B: (each strategy's rounds, the host, interrupted, a
    full disk's failure); on Ctrl-C or a full disk the rounds measured so far."""
    by_strategy: dict[str, list[ABRound]] = {s: [] for s in strategies}
    host: dict = {}
    try:
        for r in range(1, rounds + 1):
            for s in strategies:
                rnd = ABRound(round=r)
                by_strategy[s].append(rnd)
                for side in sides:
                    note = f"ab: round {r}/{rounds}, {s}, side {side.label}"
                    try:
                        res, interrupted = _run_side(
                            side, s, run_dir / f"{side.label.lower()}-r{r}", echo, note, progress
                        )
                    except runner.RunWriteFailed as exc:  # a full disk: no further round
                        setattr(rnd, side.label.lower(), exc.result.results[0] if exc.result.results else None)
                        return by_strategy, host or exc.result.host, False, exc
                    host = host or res.host
                    setattr(rnd, side.label.lower(), res.results[0] if res.results else None)
                    if interrupted:
                        raise KeyboardInterrupt
    except KeyboardInterrupt:
        return by_strategy, host, True, None
    return by_strategy, host, False, None


def _judged_results(
    by_strategy: dict[str, list[ABRound]], strategies: list[str], sides: list[Side], speed_pct: float
) -> list[StrategyResult]:
    """Per strategy with a measured round: its last entry (B's, else A's) with the `ab` block."""
    a, b = sides
    results = []
    for s in strategies:
        done = [r for r in by_strategy[s] if r.a is not None or r.b is not None]
        if not done:
            continue
        comparison = judge(done, a.plan.thresholds, speed_pct)
        comparison.options = {"a": a.text, "b": b.text}
        last = next(e for r in reversed(done) for e in (r.b, r.a) if e is not None)
        results.append(dataclasses.replace(last, ab=comparison))
    return results


def _described_plan(a: Side, b: Side, rounds: int, speed_pct: float) -> dict:
    """Both sides' plans merged (`merged`), with the A/B settings under `ab`."""
    described = merged(a.plan.describe(a.plan.audio_s), b.plan.describe(b.plan.audio_s))
    described["ab"] = {
        **described.get("ab", {}),
        "options": {"a": a.text, "b": b.text},
        "rounds": rounds,
        "speed_pct": speed_pct,
        "order": "per round, per strategy: A, then B",
    }
    return described


def _merged_engine(a: Side, b: Side) -> dict:
    """Both sides' engines merged (`merged`); the name "A|B" when they differ."""
    engine = merged(worker_config.engine_block(a.plan), worker_config.engine_block(b.plan))
    engine.setdefault("name", f"{a.plan.engine}|{b.plan.engine}")
    return engine


def run_ab(
    sides: list[Side],
    strategies: list[str],
    rounds: int,
    speed_pct: float,
    out: Path,
    json_path: Path | None = None,
    echo: Callable[[str], None] = lambda text: None,
    progress: Callable = lambda plan, prefix: None,
) -> ABRun:
    """Run the sides in turn (per round, per strategy: A then B), each strategy's iterations
    in its own worker(s), and make one RunResult of it: per strategy the B side's last
    round as the entry (what tables and the history columns show) with the `ab` block
    holding every round of both sides and the comparison. `echo` is told which side and round
    starts; `progress(plan, prefix)` gives a run's progress bars (or None)."""
    run_id = new_run_id()
    run_dir = Path(out) / run_id
    started = _now()
    by_strategy, host, interrupted, write_failed = _run_rounds(sides, strategies, rounds, run_dir, echo, progress)
    a, b = sides
    results = _judged_results(by_strategy, strategies, sides, speed_pct)
    described = _described_plan(a, b, rounds, speed_pct)
    result = RunResult(
        run_id=run_id,
        started_at=started,
        finished_at=_now(),
        host=host,
        engine=_merged_engine(a, b),
        plan=described,
        results=results,
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    for path in [run_dir / "run.json"] + ([json_path] if json_path else []):
        try:
            write_json_atomic(path, result.to_json())
        except OSError as exc:
            write_failed = write_failed or WriteFailed(path, exc)
            break
    return ABRun(result, interrupted, run_dir, write_failed)


def same_plan(sides: list[Side]) -> bool:
    """Both sides are one plan (an A/A run: every difference is noise)."""
    a, b = sides
    return (
        merged(a.plan.describe(), b.plan.describe()).get("ab") is None
        and a.plan.engine_options == b.plan.engine_options
    )


def exit_code(result: RunResult, interrupted: bool) -> ExitCode:
    if interrupted:
        return stop_signals.exit_code()
    regressed = any(e.ab is not None and e.ab.verdict is ABVerdict.REGRESSED for e in result.results)
    return ExitCode.REGRESSED if regressed else ExitCode.OK
