"""Is a soak run worse than its baseline (earlier good runs of the same matrix key)?

Per strategy (and model), four checks; any one that fires is a regression:

- `growing`: the verdict is `growing` and no baseline run had `growing` for that strategy
  (with no baseline at all, a growing verdict is new too).
- `growth`: growth per iteration above the upper end of every baseline run's 95% CI, and at
  least the growth threshold (so noise around a flat line does not alert).
- `ttft`: median TTFT slower than the baseline's (all its measured iterations pooled) by more
  than `ttft_pct` percent, and significantly so: one-sided Mann–Whitney U test
  (scipy.stats.mannwhitneyu, alternative "greater") on the per-iteration TTFTs after
  warm-up, p < `alpha`. Needs at least 3 iterations on each side, else it is only noted.
- `resource`: a resource (threads, fds, maps, ...: results.figures, kind resource) has the
  verdict `growing` and no baseline run had it growing for that strategy.
- `drift`: the transcript changed under greedy decoding (orchestrator.results.drift), in
  this run, whatever the baseline: a changed text is a correctness bug.

The runs are RunResults (orchestrator.results.model); each regression is a Regression, as stored
in the run's `soak` block.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

from orchestrator.results import drift, figures
from orchestrator.results.model import GROWTH_THRESHOLD_MB, Regression, RunResult, StrategyResult, Summary, Verdict


@dataclass
class Settings:
    ttft_pct: float = 10.0
    alpha: float = 0.05
    growth_threshold_mb: float = GROWTH_THRESHOLD_MB
    min_ttft_samples: int = 3


def _key(entry: StrategyResult) -> tuple[str, str | None]:
    return entry.strategy, entry.model


def _label(key) -> str:
    strategy, model = key
    return f"{strategy} ({model})" if model else str(strategy)


def measured_ttfts(entry: StrategyResult) -> list[float]:
    return [float(it.ttft_ms) for it in entry.measured() if it.ttft_ms is not None]


def compare(
    result: RunResult, baseline: list[RunResult], settings: Settings | None = None
) -> tuple[list[Regression], list[str]]:
    """(regressions, notes). `baseline`: the earlier good runs."""
    st = settings or Settings()
    regressions: list[Regression] = []
    notes: list[str] = []
    if not baseline:
        notes.append("no baseline yet (first good run of this matrix key): only a growing verdict is checked")
    for entry in result.results:
        earlier = [e for run in baseline for e in run.results if _key(e) == _key(entry)]
        for check in (_new_growing, _growth_above_ci):
            found = check(entry, earlier, st)
            if found:
                regressions.append(found)
        regressions += _new_growing_resources(entry, earlier)
        changed = drift.regression(entry)  # the text changed: an alarm whatever the baseline
        regressions += [changed] if changed else []
        found, note = _ttft_slower(entry, earlier, st)
        regressions += [found] if found else []
        notes += [note] if note else []
    return regressions, notes


def _summary(entry: StrategyResult) -> Summary:
    return entry.summary or Summary()


def _new_growing(entry: StrategyResult, earlier: list[StrategyResult], _st: Settings) -> Regression | None:
    """A `growing` verdict no baseline run had for this strategy (and model)."""
    summary = _summary(entry)
    if summary.verdict is not Verdict.GROWING or any(_summary(e).verdict is Verdict.GROWING for e in earlier):
        return None
    name = _label(_key(entry))
    g = summary.growth_mb_per_iter
    ci = summary.growth_ci95
    if g is not None and ci and None not in ci:
        message = (
            f"{name}: new `growing` verdict: memory grows {g:+.3f} MB/iter "
            f"(95% CI [{ci[0]:.3f}, {ci[1]:.3f}])" + ("" if earlier else ", no earlier run to compare")
        )
    else:
        message = f"{name}: new `growing` verdict"
    return Regression(
        kind="growing",
        strategy=entry.strategy,
        model=entry.model,
        message=message,
        growth_mb_per_iter=g,
        growth_ci95=summary.growth_ci95,
    )


def _new_growing_resources(entry: StrategyResult, earlier: list[StrategyResult]) -> list[Regression]:
    """Each declared resource whose verdict is `growing` now and in no baseline run."""
    out = []
    for f in figures.resources():
        if f.verdict_of(entry.summary) != str(Verdict.GROWING):
            continue
        if any(f.verdict_of(e.summary) == str(Verdict.GROWING) for e in earlier):
            continue
        g, ci = f.of(entry.summary), f.ci_of(entry.summary)
        span = f" (95% CI [{ci[0]:.3f}, {ci[1]:.3f}])" if ci else ""
        out.append(
            Regression(
                kind="resource",
                strategy=entry.strategy,
                model=entry.model,
                message=f"{_label(_key(entry))}: new `growing` resource: {f.name} {g:+.3f} per iteration{span}",
                other={"resource": f.name, "growth_per_iter": g, "ci95": ci},
            )
        )
    return out


def _growth_above_ci(entry: StrategyResult, earlier: list[StrategyResult], st: Settings) -> Regression | None:
    """Growth above the upper end of every baseline run's 95% CI, and at least the threshold."""
    growth = _summary(entry).growth_mb_per_iter
    highs = [s.growth_ci95[1] for s in map(_summary, earlier) if s.growth_ci95]
    if growth is None or not highs:
        return None
    ceiling = max(highs)
    if growth <= ceiling or growth < st.growth_threshold_mb:
        return None
    return Regression(
        kind="growth",
        strategy=entry.strategy,
        model=entry.model,
        growth_mb_per_iter=growth,
        baseline_ci_high=ceiling,
        message=f"{_label(_key(entry))}: growth {growth:+.3f} MB/iter is above the baseline's 95% CI "
        f"(upper end {ceiling:+.3f} MB/iter over {len(highs)} run(s))",
    )


def _ttft_slower(
    entry: StrategyResult, earlier: list[StrategyResult], st: Settings
) -> tuple[Regression | None, str | None]:
    """Median TTFT slower by more than ttft_pct, and significantly (Mann–Whitney U); a
    regression, or a note when it is slower but not significantly, or cannot be compared."""
    if not earlier:
        return None, None
    name = _label(_key(entry))
    now = measured_ttfts(entry)
    before = [t for e in earlier for t in measured_ttfts(e)]
    if len(now) < st.min_ttft_samples or len(before) < st.min_ttft_samples:
        return None, (
            f"{name}: TTFT not compared ({len(now)} measured iterations now, "
            f"{len(before)} in the baseline; {st.min_ttft_samples} needed on each side)"
        )
    med_now, med_before = statistics.median(now), statistics.median(before)
    slower_pct = (med_now / med_before - 1.0) * 100.0 if med_before > 0 else 0.0
    p = float(mannwhitneyu(now, before, alternative="greater").pvalue)
    if slower_pct > st.ttft_pct and p < st.alpha:
        return Regression(
            kind="ttft",
            strategy=entry.strategy,
            model=entry.model,
            ttft_ms_median=med_now,
            baseline_ttft_ms_median=med_before,
            slower_pct=slower_pct,
            p_value=p,
            message=f"{name}: median TTFT {med_now:.1f} ms is {slower_pct:.0f}% slower than the "
            f"baseline's {med_before:.1f} ms (Mann–Whitney U one-sided p={p:.2g} < {st.alpha})",
        ), None
    if slower_pct > st.ttft_pct:
        return None, (
            f"{name}: median TTFT {slower_pct:.0f}% slower than the baseline but not "
            f"significantly (Mann–Whitney U p={p:.2g} >= {st.alpha})"
        )
    return None, None
