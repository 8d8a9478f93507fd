"""Statistics over a strategy's iteration records: timing medians, memory growth per
iteration with a 95% confidence interval, and the leak verdict.

Method: Theil–Sen slope of memory (RSS at the `after_infer` mark, MB) against iteration
index, over the iterations after warm-up, with its 95% CI (scipy.stats.theilslopes). It is
the median of pairwise slopes, so one odd iteration (a page-cache hiccup, a GC) does not
move it the way it moves a least-squares fit.

Verdicts (thresholds in orchestrator.results.model.Thresholds):
- `stable`: the CI contains 0, or the slope is under the growth threshold (either way).
- `plateau`: it grew, then went flat: a tail of at least `plateau_min_tail` iterations
  (and `plateau_min_tail_share` of them) is itself `stable`, the iterations before it grew
  (their slope's CI is above 0), and the tail sits at least `plateau_min_rise_mb` (and three
  times the tail's own noise) above the start; `plateau_from` is the tail's first iteration.
- `shrinking`: memory falls: the CI lies wholly below 0 and the slope is at least the
  threshold downwards (memory handed back, a cache draining). Never a leak.
- `growing`: the CI lies wholly above 0 and the slope is at least the threshold, and it is
  no plateau.
With fewer than 3 iterations after warm-up (MIN_GROWTH_ITERATIONS) there is no verdict
(null), and the table says `too few iterations` with the count. A fit scipy cannot make (its
interval undefined: too few distinct x) is no fit either, never a `nan`, and its warnings are
not printed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

from orchestrator.results import figures
from orchestrator.results.model import (
    MIN_GROWTH_ITERATIONS,
    AlignmentSummary,
    IterationRecord,
    MeanCI,
    ModelSwitch,
    ResourceFit,
    Summary,
    Thresholds,
    Verdict,
    memory_series,
)


def _percentile(values, q):
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.percentile(vals, q)) if vals else None


def median(values):
    return _percentile(values, 50)


def p95(values):
    return _percentile(values, 95)


def slope_ci(xs, ys) -> tuple[float, float, float] | None:
    """(slope, ci_low, ci_high) per unit of x, or None with fewer than 3 points or fewer than
    3 distinct x (no slope to speak of: scipy would give nan and a warning)."""
    if len(xs) < MIN_GROWTH_ITERATIONS or len(set(xs)) < MIN_GROWTH_ITERATIONS:
        return None
    if len(set(ys)) == 1:  # perfectly flat: theilslopes' CI degenerates to the same point
        return 0.0, 0.0, 0.0
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        res = stats.theilslopes(ys, xs, alpha=0.95)
    fit = float(res[0]), float(res[2]), float(res[3])
    return fit if all(math.isfinite(v) for v in fit) else None


def _is_stable(fit, threshold) -> bool:
    slope, lo, hi = fit
    return (lo <= 0.0 <= hi) or abs(slope) < threshold


def _direction(fit, threshold) -> str:
    """`stable`, `shrinking` or `growing` from a straight-line fit: which side of 0 the CI
    lies on decides the direction (a falling slope is never growth)."""
    if _is_stable(fit, threshold):
        return "stable"
    _slope, _lo, hi = fit
    return "shrinking" if hi < 0.0 else "growing"


def _plateau_start(xs, ys, th: Thresholds) -> int | None:
    """Index of the knee where a rise turns flat, or None.

    Fits a hinge (memory rises linearly up to a knee, then stays flat) for every knee that
    leaves a long enough tail, keeps the best fit by squared error, and accepts it when the
    rise is real (slope over the threshold, at least `plateau_min_rise_mb` and three times
    the tail's noise) and the tail is itself stable."""
    n = len(xs)
    min_tail = max(th.plateau_min_tail, math.ceil(th.plateau_min_tail_share * n), 3)
    x, y = np.asarray(xs, float), np.asarray(ys, float)
    best = None
    for k in range(2, n - min_tail + 1):
        design = np.column_stack([np.ones(n), np.minimum(x, x[k])])
        coef = np.linalg.lstsq(design, y, rcond=None)[0]
        sse = float(np.sum((design @ coef - y) ** 2))
        if best is None or sse < best[0]:
            best = (sse, k, float(coef[1]))
    if best is None:
        return None
    _, k, slope = best
    tail = slope_ci(xs[k:], ys[k:])
    noise = 1.4826 * float(np.median(np.abs(y[k:] - np.median(y[k:]))))  # MAD as an sd
    rise = slope * (x[k] - x[0])
    if (
        slope >= th.growth_mb_per_iter
        and tail
        and _is_stable(tail, th.growth_mb_per_iter)
        and rise >= max(th.plateau_min_rise_mb, 3 * noise)
    ):
        return k
    return None


def verdict(xs, ys, th: Thresholds) -> dict:
    fit = slope_ci(xs, ys)
    if fit is None:
        return {"growth_mb_per_iter": None, "growth_ci95": None, "verdict": None, "plateau_from": None}
    out = {"growth_mb_per_iter": fit[0], "growth_ci95": [fit[1], fit[2]], "plateau_from": None}
    # a rise that then stops is a plateau even when a straight line through it looks flat
    start = _plateau_start(xs, ys, th)
    if start is not None:
        out["verdict"], out["plateau_from"] = "plateau", int(xs[start])
    else:
        out["verdict"] = _direction(fit, th.growth_mb_per_iter)
    return out


def mean_ci(values) -> tuple[float, float, float] | None:
    """Mean and its 95% t-interval (for per-switch figures), None with fewer than 2 values."""
    vals = [v for v in values if v is not None]
    if len(vals) < 2:
        return (float(vals[0]), float(vals[0]), float(vals[0])) if vals else None
    m = float(np.mean(vals))
    half = float(stats.t.ppf(0.975, len(vals) - 1) * stats.sem(vals)) if np.std(vals) > 0 else 0.0
    return m, m - half, m + half


def summarize(iterations: list[IterationRecord], th: Thresholds) -> Summary:
    """A strategy's statistics. Every record is a finished request (an empty answer too: it
    has memory, not a TTFT); the memory series is results.memory_series (one rule)."""
    measured = [it for it in iterations if not it.warmup]
    series = memory_series(iterations, measured)
    xs = [float(it.i) for it in series]
    ys = [float(it.rss_mb) for it in series if it.rss_mb is not None]
    uss = [it.uss_mb for it in series]
    mem = [it for it in measured if it.rss_mb is not None]
    out = Summary(
        iters_ok=len({it.i for it in iterations}),
        iters_measured=len({it.i for it in measured}),
        ttft_ms_median=median([it.ttft_ms for it in measured]),
        ttft_ms_p95=p95([it.ttft_ms for it in measured]),
        itl_ms_median=median([it.itl_ms_p50 for it in measured]),
        itl_ms_p95=p95([it.itl_ms_p95 for it in measured]),
        tokens_per_s_median=median([it.tokens_per_s for it in measured]),
        latency_ms_median=median([it.latency_ms for it in measured]),
        latency_ms_p95=p95([it.latency_ms for it in measured]),
        load_ms_median=median([it.load_ms for it in iterations]),
        rtf_median=median([it.rtf for it in measured]),
        rss_start_mb=ys[0] if ys else None,
        rss_end_mb=ys[-1] if ys else None,
        rss_peak_mb=max((p for it in mem if (p := it.peak_rss_mb or it.rss_mb) is not None), default=None),
    )
    out.ttft_phases_median = _phase_medians(measured)
    out.idle_rss_mb, out.idle_returned_mb = _idle(iterations)
    fit = verdict(xs, ys, th)
    out.growth_mb_per_iter, out.growth_ci95 = fit["growth_mb_per_iter"], fit["growth_ci95"]
    out.verdict = Verdict(fit["verdict"]) if fit["verdict"] else None
    out.plateau_from = fit["plateau_from"]
    out.resources = resource_fits(series, th)
    if all(u is not None for u in uss) and len(uss) >= 3:
        uss_fit = slope_ci(xs, [float(u) for u in uss if u is not None])
        if uss_fit:
            out.uss_growth_mb_per_iter, out.uss_growth_ci95 = uss_fit[0], [uss_fit[1], uss_fit[2]]
    return out


def resource_fits(series: list[IterationRecord], th: Thresholds) -> dict[str, ResourceFit] | None:
    """Per declared resource (results.figures, kind resource) read at the iterations'
    after-infer marks: where it started and ended, its growth per iteration (Theil–Sen, 95% CI)
    and verdict, by the rules memory's follow (`verdict`). None when none was read."""
    out: dict[str, ResourceFit] = {}
    for f in figures.resources():
        points = [
            (float(it.i), float(it.resources[f.name])) for it in series if it.resources and f.name in it.resources
        ]
        if not points:
            continue
        xs, ys = [x for x, _ in points], [y for _, y in points]
        fit = verdict(xs, ys, th)
        out[f.name] = ResourceFit(
            start=ys[0],
            end=ys[-1],
            growth_per_iter=fit["growth_mb_per_iter"],
            ci95=fit["growth_ci95"],
            verdict=fit["verdict"],
            n=len(points),
        )
    hwm = out.get("vm_hwm_mb")
    if hwm is not None:
        reset = all((it.resources or {}).get("vm_hwm_reset") for it in series if it.resources)
        hwm.note = "per request" if reset else "running peak: the kernel did not let orch reset it"
    return out or None


def add_resource_limits(summary: Summary, limits: dict[str, float]) -> None:
    """Each growing resource's limit (figures: `limit`; run.procfs.resource_limits) and the
    iterations left before it, at the growth measured: as the memory guard projects memory."""
    for f in figures.resources():
        fit = (summary.resources or {}).get(f.name)
        if fit is None or f.limit is None or f.limit not in limits:
            continue
        fit.limit = limits[f.limit]
        if (
            fit.verdict == str(Verdict.GROWING)
            and fit.growth_per_iter
            and fit.growth_per_iter > 0
            and fit.end is not None
        ):
            fit.iters_to_limit = max(fit.limit - fit.end, 0.0) / fit.growth_per_iter


def add_cpu_cost(summary: Summary, iterations: list[IterationRecord], audio_s: float | None) -> None:
    """CPU cost: the median CPU seconds of a measured request, and core-hours per audio hour
    (their sum over the audio's: CPU seconds per second of audio are core-hours per hour)."""
    cpu = [it.cpu_s for it in iterations if not it.warmup and it.cpu_s is not None]
    summary.cpu_s_median = median(cpu)
    if cpu and audio_s:
        summary.core_h_per_audio_h = sum(cpu) / (len(cpu) * audio_s)


def _idle(iterations: list[IterationRecord]) -> tuple[float | None, float | None]:
    """The after_idle mark (on the last request's record) and what came back since the
    request's last mark before it."""
    for it in reversed(iterations):
        idle = it.phase_rss("after_idle")
        if idle is not None:
            before = it.phase_rss("after_unload")
            before = it.rss_mb if before is None else before
            return idle, (before - idle if before is not None else None)
    return None, None


def _phase_medians(measured: list[IterationRecord]) -> dict[str, float] | None:
    names = list(dict.fromkeys(k for it in measured for k in (it.ttft_phases or {})))
    if not names:
        return None
    out = {}
    for name in names:
        m = median([(it.ttft_phases or {}).get(name) for it in measured])
        if m is not None:
            out[name] = m
    return out


def project_rss(
    iterations: list[IterationRecord], planned_iters: int, growth_mb_per_iter: float | None
) -> float | None:
    """RSS after the last planned iteration at the growth measured so far (a strategy the
    memory guard stopped): the fitted slope, or with too few iterations for a fit, the
    straight line from the first record to the last."""
    series = memory_series(iterations, iterations)
    if not series:
        return None
    first, last = series[0], series[-1]
    growth = growth_mb_per_iter
    if growth is None:
        if last.i == first.i or first.rss_mb is None or last.rss_mb is None:
            return None
        growth = (last.rss_mb - first.rss_mb) / (last.i - first.i)
    return (last.rss_mb or 0.0) + growth * (planned_iters - last.i)


def _ci_block(values) -> MeanCI | None:
    fit = mean_ci(values)
    return None if fit is None else MeanCI(mean=fit[0], ci95=[fit[1], fit[2]], n=len(values))


def _phase_diff(its: list[IterationRecord], a: str, b: str) -> list[float]:
    pairs = [(it.phase_rss(a), it.phase_rss(b)) for it in its]
    return [y - x for x, y in pairs if x is not None and y is not None]


def per_model(iterations: list[IterationRecord]) -> dict[str, ModelSwitch]:
    """Scenario switch: per model, what a load costs, what an unload gives back and what each
    switch keeps (after_unload - before_load, mean with a 95% t-interval), plus timings."""
    out = {}
    for model in dict.fromkeys(it.model for it in iterations):
        its = [it for it in iterations if it.model == model and not it.warmup]
        out[model or "-"] = ModelSwitch(
            iters=len(its),
            load_overhead_mb=_ci_block(_phase_diff(its, "before_load", "after_load")),
            released_at_unload_mb=_ci_block([-d for d in _phase_diff(its, "after_infer", "after_unload")]),
            kept_per_switch_mb=_ci_block(_phase_diff(its, "before_load", "after_unload")),
            load_ms_median=median([it.load_ms for it in its]),
            ttft_ms_median=median([it.ttft_ms for it in its]),
            tokens_per_s_median=median([it.tokens_per_s for it in its]),
            cer_mean=_mean([it.cer for it in its]),
        )
    return out


def _mean(values):
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def add_quality(summary: Summary, iterations: list[IterationRecord]) -> None:
    measured = [it for it in iterations if not it.warmup]
    summary.cer_mean = _mean([it.cer for it in measured])
    summary.wer_mean = _mean([it.wer for it in measured])
    summary.empty_outputs = sum(1 for it in iterations if not (it.text or "").strip())


def alignment_summary(iterations: list[IterationRecord]) -> AlignmentSummary:
    checks = [it.alignment or {} for it in iterations]
    return AlignmentSummary(
        iters_with_violations=sum(1 for c in checks if c.get("violations")),
        violations_total=sum(c.get("violations", 0) for c in checks),
        parse_failures=sum(1 for c in checks if c.get("parse_error")),
    )
