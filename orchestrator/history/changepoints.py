"""Change points over the soak history: when did a figure change, and for good?

Per host × soak matrix key × strategy (and model) × figure — growth per iteration, median
TTFT, median tokens/s, mean CER — the runs in time order make a series: one database fed by
several machines keeps each machine's series apart. Each point keeps the engine build it
ran (store.build_identity), and a change point says which builds it lies between.

A change point is the first run of a new regime that lasts: a step (a leak that starts), a
change of slope (a creep of 1% a night), each with at least `min_size` runs on both sides,
so one noisy run is never one.

Method (chosen by measurement against E-Divisive means and Apache Otava: docs/history.md,
"Change points"; scripts/compare_changepoints.py):

1. the noise σ of the series: the median absolute deviation of its run-to-run differences
   (robust to the steps, slopes and spikes it is looking for);
2. spikes out: a run further than `spike_k` σ from the median of its neighbours (a Hampel
   filter, window 2·`spike_half_window` + 1) is replaced by that median;
3. segmentation: PELT (ruptures) with a piecewise-linear cost — each segment is a straight
   line, so a step is a change of level and a creep a change of slope — with a BIC penalty
   (`penalty` × log n × σ² per segment) and `min_size` runs per segment;
4. each change kept only if Chow's test (one line over both neighbouring segments against
   one line each) gives p < `max_pvalue`; the weakest goes first and its neighbours are
   tested again (as Otava's merge step). The p-value is "how sure": conditional on where
   the change was put, so read it as a ranking more than as an error rate;
5. a change with no significant jump (a change of slope: a creep) is moved to where one
   line with a bend fits best, within `refine_within` runs (lines free to jump place a
   creep's start late).

`detect(values)` works on one list of numbers; `history_series` builds the series from the
history database, `find_changes` lists change points, `new_changes` those that the latest
run brought (what `orch soak` alerts on).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from orchestrator.history import store
from orchestrator.history.store import StoredRun, StoredStrategy, build_identity, hostname_of, parse_since, parse_time
from orchestrator.results import figures

# the figures a series is made of, as results.figures declares them (changes=True):
# run_strategies column -> (label, decimals)
METRICS = {f.column_name: (f.label, f.nd) for f in figures.change_metrics() if f.column_name}
# those that are a growth per iteration: around 0 a percentage says nothing
GROWTH_METRICS = frozenset(f.column_name for f in figures.change_metrics() if f.kind == "resource" or f.ci_column_names)


@dataclass(frozen=True)
class Settings:
    min_size: int = 5  # runs on each side of a change at least
    max_pvalue: float = 1e-4  # Chow's test at the change
    penalty: float = 4.0  # × log(n) × σ² per extra segment (BIC's 3: a level, a slope, a place; +1)
    refine_within: int = 4  # runs either side searched for where a slope change (no jump) starts
    spike_k: float = 5.0  # a run this many σ from its neighbours' median is a spike
    spike_half_window: int = 3  # so up to 3 runs in a row are a blip, not a change


@dataclass
class Found:
    """A change point in one series (positions count from 0)."""

    index: int  # the first point of the new regime
    before: float  # the left segment's line at the point before the change
    after: float  # the right segment's line at its last point
    slope_before: float  # per point (run)
    slope_after: float
    p_value: float
    n_before: int  # points in the segment before / after
    n_after: int


# --------------------------------------------------------------------------- one series
def noise_sd(y: np.ndarray) -> float:
    """σ of the noise: 1.4826 × the median absolute deviation of the first differences, / √2."""
    if len(y) < 3:
        return 0.0
    d = np.diff(y)
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def _floor(y: np.ndarray, sigma: float) -> float:
    """σ never 0 (a series flat but for a step would otherwise make every split free)."""
    scale = float(np.median(np.abs(y))) if len(y) else 0.0
    return max(sigma, 1e-3 * scale, 1e-9)


def despike(y: np.ndarray, sigma: float, st: Settings) -> tuple[np.ndarray, list[int]]:
    """A Hampel filter: each point further than spike_k σ from the median of its window is
    replaced by that median. Returns the cleaned series and the positions replaced."""
    out, spikes = y.copy(), []
    h = st.spike_half_window
    for i in range(len(y)):
        window = y[max(0, i - h) : i + h + 1]
        med = float(np.median(window))
        if abs(y[i] - med) > st.spike_k * sigma:
            out[i] = med
            spikes.append(i)
    return out, spikes


class _Line:
    """Least-squares line over any y[a:b] in O(1), from prefix sums."""

    def __init__(self, y: np.ndarray):
        t = np.arange(len(y), dtype=float)
        self.sums = [np.concatenate([[0.0], np.cumsum(v)]) for v in (np.ones_like(t), t, t * t, y, t * y, y * y)]

    def fit(self, a: int, b: int) -> tuple[float, float, float]:
        """(intercept, slope, SSE) of y[a:b] against its positions."""
        n, st, stt, sy, sty, syy = (s[b] - s[a] for s in self.sums)
        if n < 2:
            return (sy / n if n else 0.0), 0.0, 0.0
        vtt = stt - st * st / n
        vty = sty - st * sy / n
        vyy = syy - sy * sy / n
        slope = vty / vtt if vtt > 0 else 0.0
        intercept = (sy - slope * st) / n
        return intercept, slope, max(vyy - slope * vty, 0.0)


def _cost_class():
    """ruptures' cost for a piecewise-linear series (its own CostLinear needs the time as a
    column and refits each segment; this one is O(1) per segment)."""
    from ruptures.base import (
        BaseCost,  # lazy: `orch report` of a run that is no soak's imports this module and searches nothing
    )

    class CostLinearTrend(BaseCost):
        model = "linear_trend"
        min_size = 2

        def fit(self, signal):
            self.signal = np.asarray(signal, float).reshape(len(signal), -1)
            self.line = _Line(self.signal[:, 0])
            return self

        def error(self, start, end):
            return self.line.fit(start, end)[2]

    return CostLinearTrend


def _chow(line: _Line, a: int, k: int, b: int) -> float:
    """Chow's test for a break at k between segments [a, k) and [k, b): p of the F statistic
    (one line over both against one line each; 2 and n − 4 degrees of freedom)."""
    from scipy import stats  # lazy: `orch report` of a run that is no soak's imports this module and searches nothing

    n = b - a
    if n <= 4:
        return 1.0
    pooled = line.fit(a, b)[2]
    apart = line.fit(a, k)[2] + line.fit(k, b)[2]
    if apart <= 0:
        return 0.0 if pooled > 0 else 1.0
    f = ((pooled - apart) / 2) / (apart / (n - 4))
    return float(stats.f.sf(f, 2, n - 4))


def _hinge_sse(y: np.ndarray, a: int, b: int, k: int) -> float:
    """SSE over y[a:b] of one line whose slope changes at k, with no jump (a creep from k)."""
    t = np.arange(a, b, dtype=float)
    design = np.column_stack([np.ones_like(t), t, np.maximum(t - (k - 1), 0.0)])
    coef = np.linalg.lstsq(design, y[a:b], rcond=None)[0]
    r = y[a:b] - design @ coef
    return float(r @ r)


def _refine(y: np.ndarray, cuts: list[int], st: Settings) -> list[int]:
    """Where a change without a significant jump starts: a change of slope alone is placed
    poorly by lines that may jump (they trade a small jump for a later start), so when the
    jump is not significant (F test, p >= 0.01) the change moves to the best hinge within
    `refine_within` runs. Measured: a 1%/run creep in 1% noise found within ±2 runs in 90%
    of 200 seeds without this, 98.5% with it."""
    from scipy import stats  # lazy: `orch report` of a run that is no soak's imports this module and searches nothing

    n, out = len(y), list(cuts)
    line = _Line(y)
    for j, k in enumerate(cuts):
        a = out[j - 1] if j else 0
        b = cuts[j + 1] if j + 1 < len(cuts) else n
        lo, hi = max(a + st.min_size, k - st.refine_within), min(b - st.min_size, k + st.refine_within)
        if lo > hi or b - a <= 4:
            continue
        best = min(range(lo, hi + 1), key=lambda c: _hinge_sse(y, a, b, c))
        apart = line.fit(a, k)[2] + line.fit(k, b)[2]
        hinge = _hinge_sse(y, a, b, best)
        jump_p = float(stats.f.sf((hinge - apart) / (apart / (b - a - 4)), 1, b - a - 4)) if apart > 0 else 0.0
        if jump_p >= 0.01:
            out[j] = best
    return out


def detect(values: Sequence[float], settings: Settings | None = None) -> list[Found]:
    """The change points of one series (no None in it), oldest first."""
    st = settings or Settings()
    y = np.asarray(values, float)
    n = len(y)
    if n < 2 * st.min_size:
        return []
    sigma = _floor(y, noise_sd(y))
    clean, _spikes = despike(y, sigma, st)
    import ruptures  # lazy: `orch report` of a run that is no soak's imports this module and searches nothing

    algo = ruptures.Pelt(custom_cost=_cost_class()(), min_size=st.min_size, jump=1).fit(clean)
    cuts = [b for b in algo.predict(pen=st.penalty * math.log(n) * sigma**2) if b < n]
    line = _Line(clean)
    # the merge step: drop the least significant change until every one passes
    pvalues: list[float] = []
    while cuts:
        edges = [0, *cuts, n]
        pvalues = [_chow(line, edges[j - 1], edges[j], edges[j + 1]) for j in range(1, len(edges) - 1)]
        worst = max(range(len(cuts)), key=lambda j: pvalues[j])
        if pvalues[worst] < st.max_pvalue:
            break
        del cuts[worst]
    cuts = _refine(clean, cuts, st)
    edges = [0, *cuts, n]
    pvalues = [_chow(line, edges[j - 1], edges[j], edges[j + 1]) for j in range(1, len(edges) - 1)]
    found = []
    for j, k in enumerate(cuts, start=1):
        a, b = edges[j - 1], edges[j + 1]
        ia, sa, _ = line.fit(a, k)
        ib, sb, _ = line.fit(k, b)
        found.append(
            Found(
                index=k,
                before=ia + sa * (k - 1),
                after=ib + sb * (b - 1),  # lines in positions
                slope_before=sa,
                slope_after=sb,
                p_value=pvalues[j - 1],
                n_before=k - a,
                n_after=b - k,
            )
        )
    return found


def synthetic(kind: str, seed: int, n: int = 40, at: int = 20) -> list[float]:
    """Seeded synthetic histories (tests, scripts/compare_changepoints.py):
    `step`: growth per iteration 0.02 MB/iter (noise sd 0.02) and +0.3 MB/iter from run `at`;
    `creep`: median TTFT 100 ms (noise sd 1%), +1% a run from run `at` on;
    `spike`: that TTFT with one run (run `at` + 5) at 1.5 times;
    `flat`: noise only (TTFT, sd 1%)."""
    rng = np.random.default_rng(seed)
    i = np.arange(n)
    if kind == "step":
        return list(0.02 + 0.02 * rng.standard_normal(n) + np.where(i >= at, 0.3, 0.0))
    ttft = 100.0 * (1 + 0.01 * rng.standard_normal(n))
    if kind == "creep":
        return list(ttft * np.where(i >= at, 1.01 ** (i - at + 1), 1.0))
    if kind == "spike":
        ttft[at + 5] *= 1.5
        return list(ttft)
    if kind == "flat":
        return list(ttft)
    raise ValueError(f"unknown synthetic series {kind!r}")


# --------------------------------------------------------------------------- the history
@dataclass
class Point:
    run_id: str
    started_at: str | None
    value: float
    build: str | None = None  # the engine build of that run (store.build_identity)


@dataclass
class Series:
    matrix_key: str
    strategy: str
    model: str | None
    metric: str
    points: list[Point] = field(default_factory=list)
    host: str | None = None  # the hostname the runs ran on

    @property
    def key(self) -> tuple[str | None, str, str, str | None, str]:
        return self.host, self.matrix_key, self.strategy, self.model, self.metric


@dataclass
class ChangePoint:
    """A change point of one history series: from which run, what it was before and after."""

    matrix_key: str
    strategy: str
    model: str | None
    metric: str
    run_id: str  # the first run of the new regime
    started_at: str | None
    position: int  # of that run in the series (0: the oldest)
    runs: int  # runs in the series
    before: float
    after: float
    slope_after: float  # per run
    p_value: float
    runs_after: int = 0  # runs in the new regime's segment
    host: str | None = None  # the series' host
    build_before: str | None = None  # the engine build of the last run before the change
    build_after: str | None = None  # … and of the first run of the new regime

    @property
    def builds(self) -> str | None:
        """`X` when both sides of the change ran one build, `X → Y` when the build changed there."""
        if self.build_before is None and self.build_after is None:
            return None
        if self.build_before == self.build_after:
            return self.build_after
        return f"{self.build_before or '?'} → {self.build_after or '?'}"

    @property
    def change_pct(self) -> float | None:
        """After against before in percent; None for growth per iteration (around 0 MB/iter a
        percentage says nothing) and from 0."""
        if self.metric in GROWTH_METRICS or not self.before:
            return None
        return (self.after / self.before - 1) * 100

    def message(self) -> str:
        label, nd = METRICS[self.metric]
        who = f"{self.strategy} ({self.model})" if self.model else self.strategy
        pct = f" ({self.change_pct:+.0f}%)" if self.change_pct is not None else ""
        # a change of slope (a creep) says so: the new segment's rise is most of the change
        rise = abs(self.slope_after) * max(self.runs_after - 1, 0)
        creep = f", then {self.slope_after:+.{nd}f} a run" if rise > 0.5 * abs(self.after - self.before) else ""
        when = f"{self.started_at[:16].replace('T', ' ')} UTC" if self.started_at else "time unknown"
        build = f"; build {self.builds}" if self.builds else ""
        return (
            f"{who}: {label} {self.before:.{nd}f} → {self.after:.{nd}f}{pct}{creep} from run {self.run_id} "
            f"({when}; run {self.position + 1} of {self.runs}{build}; Chow p={self.p_value:.2g})"
        )

    def to_json(self) -> dict:
        return dict(vars(self))


def series_of(rows, strategy: str | None = None) -> list[Series]:
    """Series from stored soak runs (store.StoredRun, oldest first): one per host × matrix
    key × strategy × model × figure, from the strategies whose status was ok."""
    out: dict[tuple, Series] = {}
    for run in rows:
        if not run.matrix_key:
            continue
        host = getattr(run, "host", None)
        for s in run.results:
            if s.status != "ok" or (strategy and s.strategy != strategy):
                continue
            for metric in METRICS:
                value = getattr(s, metric, None)
                if value is None or not math.isfinite(value):
                    continue
                key = (host, run.matrix_key, s.strategy, s.model, metric)
                series = out.setdefault(key, Series(run.matrix_key, s.strategy, s.model, metric, host=host))
                series.points.append(Point(run.run_id, run.started_at, float(value), getattr(run, "build", None)))
    return list(out.values())


def stored_row(result, matrix_key: str):
    """A RunResult not stored yet, as list_runs would give it (store.StoredRun), so that a
    soak can look at its key's series with this run before storing it."""
    strategies = []
    for r in result.results:
        values = store.declared_values(r.summary)
        strategies.append(StoredStrategy.of(dict(values, strategy=r.strategy, model=r.model, status=str(r.status))))
    return StoredRun(
        run_id=result.run_id,
        started_at=result.started_at,
        kind="soak",
        matrix_key=matrix_key,
        host=hostname_of(result.host),
        build=build_identity(result.engine),
        results=strategies,
    )


def history_series(
    db: str | None = None, matrix_key: str | None = None, strategy: str | None = None, host: str | None = None
) -> list[Series]:
    rows = store.list_runs(db, kind="soak", matrix_key=matrix_key, strategy=strategy, newest_first=False, host=host)
    return series_of(rows, strategy)


def changes_in(series: Series, settings: Settings | None = None) -> list[ChangePoint]:
    values = [p.value for p in series.points]
    out = []
    for f in detect(values, settings):
        p = series.points[f.index]
        out.append(
            ChangePoint(
                series.matrix_key,
                series.strategy,
                series.model,
                series.metric,
                p.run_id,
                p.started_at,
                f.index,
                len(values),
                float(f.before),
                float(f.after),
                float(f.slope_after),
                float(f.p_value),
                f.n_after,
                host=series.host,
                build_before=series.points[f.index - 1].build,
                build_after=p.build,
            )
        )
    return out


def find_changes(
    db: str | None = None,
    since=None,
    matrix_key: str | None = None,
    strategy: str | None = None,
    metric: str | None = None,
    settings: Settings | None = None,
    host: str | None = None,
) -> list[ChangePoint]:
    """Every change point of the history (each series read whole), those from runs started
    since `since` (store.parse_since): grouped by host (in name order; runs with no host
    last), newest first within each."""
    start = parse_since(since)
    found = []
    for s in history_series(db, matrix_key, strategy, host):
        if metric and s.metric != metric:
            continue
        for c in changes_in(s, settings):
            t = parse_time(c.started_at)
            if start is None or (t is not None and t >= start):
                found.append(c)
    found.sort(key=lambda c: (c.started_at or "", c.matrix_key, c.strategy, c.metric), reverse=True)
    found.sort(key=lambda c: (c.host is None, c.host or ""))  # stable: newest first within a host
    return found


def new_changes(series: Series, settings: Settings | None = None, recent: int | None = None) -> list[ChangePoint]:
    """The change points the latest run brought: found in the whole series, not (within 2
    runs) in the series without its last run, and in its last `recent` runs (default
    2 × min_size: a change is first seen min_size runs after it)."""
    st = settings or Settings()
    recent = recent or 2 * st.min_size
    now = changes_in(series, st)
    if not now:
        return []
    before = Series(
        series.matrix_key, series.strategy, series.model, series.metric, series.points[:-1], host=series.host
    )
    earlier = [c.position for c in changes_in(before, st)]
    n = len(series.points)
    return [c for c in now if c.position >= n - recent and not any(abs(c.position - e) <= 2 for e in earlier)]
