"""The report's charts (matplotlib, Agg, no pyplot state): memory against iteration per
strategy, memory against time from the external samples, TTFT and tokens/s distributions.
Each function takes the typed result (orchestrator.results.model) and returns PNG bytes; every
one copes with a strategy that has no iterations."""

from __future__ import annotations

import math
import statistics
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from orchestrator.history.changepoints import METRICS
from orchestrator.history.page import note, png
from orchestrator.results.model import RunResult, Status, StrategyResult, Summary

# where each phase mark sits around its iteration's x (the RSS point is the after_infer mark)
PHASE_STYLE = {
    "before_load": (-0.30, "v", "#9467bd"),
    "after_load": (-0.12, "^", "#2ca02c"),
    "before_infer": (-0.05, ">", "#8c564b"),
    "after_infer": (0.0, "o", "#1f77b4"),
    "after_unload": (0.25, "x", "#d62728"),
}
OTHER_PHASE = (0.12, "d", "#7f7f7f")
# past this many iterations a point per iteration is a smear: the line alone, smaller phase marks
MARKERS_UP_TO = 100
# at most about this many iteration-start lines on the over-time chart (every k-th beyond):
# 5,000 of them cover the data with a grey block
MAX_START_LINES = 30


class Point(NamedTuple):
    i: int
    rss_mb: float
    uss_mb: float | None
    warmup: bool


def _memory_series(entry: StrategyResult) -> list[Point]:
    """One point per iteration, in order: StrategyResult.memory_series (the one "last model
    per i" rule: an iteration whose last model's record is missing has no point, never
    another model's record in its place), warm-up iterations included (drawn shaded)."""
    return [
        Point(it.i, it.rss_mb, it.uss_mb, it.warmup)
        for it in entry.memory_series(measured_only=False)
        if it.rss_mb is not None
    ]


def _integer_ticks(ax) -> None:
    """Iterations and runs are whole numbers: no 2.5 on their axis."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))


def memory_chart(entry: StrategyResult, limit_mb: float | None = None) -> bytes:
    """RSS (and USS) at each iteration's after_infer mark, warm-up shaded, every phase mark,
    the fitted growth slope with its 95% CI band; beside it RSS/USS over time from the
    sampler, iteration starts marked. With no iteration recorded, the samples alone (a worker
    the memory guard stopped while loading). `limit_mb`: the memory guard's limit, drawn on
    the over-time chart (a memory-limit result)."""
    return png(_memory_figure(entry, limit_mb))


def _memory_figure(entry: StrategyResult, limit_mb: float | None = None) -> Figure:
    samples = entry.samples
    series = _memory_series(entry)
    strategy, status = entry.strategy, entry.status
    if samples and not series:  # nothing per iteration: what the sampler saw, full width
        fig = Figure(figsize=(9, 3.8))
        ax = fig.subplots()
        _samples(ax, entry, samples, limit_mb)
        ax.set_title(f"{strategy} — sampled from outside, over time ({status}: no iteration finished)", fontsize=11)
        ax.set_ylabel("MB")
        fig.tight_layout()
        return fig
    fig = Figure(figsize=(11, 3.8) if samples else (7.5, 3.8))
    axes = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]}) if samples else [fig.subplots()]
    ax = axes[0]
    title = f"{strategy} — memory per iteration"
    if status is not Status.OK:
        title += f" ({status})"
    ax.set_title(title, fontsize=11)
    if not series:
        note(ax, f"no iterations recorded ({status})")
    else:
        many = len(series) > MARKERS_UP_TO
        xs = [p.i for p in series]
        warm = [p.i for p in series if p.warmup]
        if warm:
            ax.axvspan(min(warm) - 0.5, max(warm) + 0.5, color="#ffdd99", alpha=0.45, label="warm-up", lw=0)
        ax.plot(
            xs,
            [p.rss_mb for p in series],
            "-" if many else "-o",
            color="#1f77b4",
            ms=4,
            lw=1.5,
            label="RSS (after infer)",
        )
        uss = [(p.i, p.uss_mb) for p in series if p.uss_mb is not None]
        if uss:
            ax.plot(
                [u[0] for u in uss],
                [u[1] for u in uss],
                "--" if many else "--s",
                color="#ff7f0e",
                ms=3,
                lw=1.2,
                label="USS",
            )
        _phase_marks(ax, entry, small=many)
        _slope(ax, entry, series)
        ax.set_xlabel("iteration")
        _integer_ticks(ax)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)
    ax.set_ylabel("MB")
    ax.grid(alpha=0.3)
    if samples:
        _samples(axes[1], entry, samples, limit_mb)
    fig.tight_layout()
    return fig


def _phase_marks(ax, entry: StrategyResult, small: bool) -> None:
    """Every model's phase marks (a switch loads and unloads each), one style per phase; a
    mark where nothing was measured (None: no engine program running) is not drawn."""
    marks: dict[str, tuple[list[float], list[float]]] = {}
    for it in entry.iterations:
        for name, mark in it.phases.items():
            if mark.rss_mb is None or name == "after_infer":
                continue
            off = PHASE_STYLE.get(name, OTHER_PHASE)[0]
            xs, ys = marks.setdefault(name, ([], []))
            xs.append(it.i + off)
            ys.append(mark.rss_mb)
    for name, (xs, ys) in marks.items():
        _off, marker, color = PHASE_STYLE.get(name, OTHER_PHASE)
        ax.plot(xs, ys, marker, color=color, ms=2 if small else 4, alpha=0.75, label=name, ls="none")


def _slope(ax, entry: StrategyResult, series: list[Point]) -> None:
    summary = entry.summary or Summary()
    slope, ci = summary.growth_mb_per_iter, summary.growth_ci95
    measured = [(p.i, p.rss_mb) for p in series if not p.warmup]
    if slope is None or len(measured) < 2:
        return
    xs = [m[0] for m in measured]
    # Theil–Sen's intercept: the median of y - slope*x; the CI band is the fan of lines
    # with the CI's slopes through the fit at the middle of the measured range
    intercept = statistics.median(y - slope * x for x, y in measured)
    x0, x1 = min(xs), max(xs)
    xm = statistics.median(xs)
    ym = intercept + slope * xm
    grid = [x0 + (x1 - x0) * k / 40 for k in range(41)]
    label = f"fit {slope:+.3f} MB/iter"
    if ci:
        lo = [ym + ci[0] * (x - xm) for x in grid]
        hi = [ym + ci[1] * (x - xm) for x in grid]
        ax.fill_between(
            grid,
            [min(a, b) for a, b in zip(lo, hi, strict=False)],
            [max(a, b) for a, b in zip(lo, hi, strict=False)],
            color="#d62728",
            alpha=0.15,
            lw=0,
            label=f"95% CI [{ci[0]:.3f}, {ci[1]:.3f}]",
        )
    ax.plot(grid, [ym + slope * (x - xm) for x in grid], "-", color="#d62728", lw=1.6, label=label)


class SampleLines(NamedTuple):
    """What the over-time chart draws, computed apart from the drawing so it can be checked."""

    t: list[float]
    rss: list[float]  # NaN where nothing was measured (no engine program running): a gap
    uss_t: list[float]
    uss: list[float]
    starts: list[tuple[int, float]]  # (iteration, seconds) of each start line drawn
    every: int  # a line for every `every`-th iteration (1: each)


def _nice_step(n: int, most: int) -> int:
    """The least of 1, 2, 5, 10, 20, 50, ... that leaves at most `most` of `n` items."""
    step, k = 1, 0
    while math.ceil(n / step) > most:
        k += 1
        step = (1, 2, 5)[k % 3] * 10 ** (k // 3)
    return step


def sample_lines(samples, max_start_lines: int = MAX_START_LINES) -> SampleLines:
    """The RSS and USS series of the compact samples ([t, rss, uss, iteration]) and the
    iteration starts to mark: each, or every k-th (k = 1, 2, 5, 10, 20, ...) when there are
    more than `max_start_lines`, the iterations that are multiples of k."""
    t = [s[0] for s in samples]
    rss = [math.nan if s[1] is None else float(s[1]) for s in samples]
    uss = [(s[0], float(s[2])) for s in samples if len(s) > 2 and s[2] is not None]
    starts, prev = [], None
    for s in samples:
        i = s[3] if len(s) > 3 else None
        if i is not None and i != prev:
            starts.append((i, s[0]))
        prev = i if i is not None else prev
    every = _nice_step(len(starts), max_start_lines)
    if every > 1:
        starts = [(i, x) for i, x in starts if i % every == 0]
    return SampleLines(t, rss, [u[0] for u in uss], [u[1] for u in uss], starts, every)


def _lonely(values: list[float]) -> list[int]:
    """Indexes of measured points with no measured neighbour: a line cannot show them."""
    ok = [not math.isnan(v) for v in values]
    return [
        k for k, here in enumerate(ok) if here and not (k > 0 and ok[k - 1]) and not (k + 1 < len(ok) and ok[k + 1])
    ]


def _samples(ax, entry: StrategyResult, samples, limit_mb: float | None = None) -> None:
    ax.set_title("sampled from outside, over time", fontsize=11)
    lines = sample_lines(samples)
    # the iteration starts go under the data (zorder), never over it
    for k, (_i, x) in enumerate(lines.starts):
        label = None
        if k == 0:
            nth = f"{lines.every}{'nd' if lines.every == 2 else 'th'}"
            label = "iteration start" + (f" (every {nth})" if lines.every > 1 else "")
        ax.axvline(x, color="#999", lw=0.6, alpha=0.6, label=label, zorder=0.5)
    ax.plot(lines.t, lines.rss, "-", color="#1f77b4", lw=1, label="RSS")
    lonely = _lonely(lines.rss)
    if lonely:
        ax.plot([lines.t[k] for k in lonely], [lines.rss[k] for k in lonely], ".", color="#1f77b4", ms=4)
    if lines.uss:
        # USS is read at phase marks and every few seconds: few points, so each is marked
        ax.plot(
            lines.uss_t,
            lines.uss,
            "-",
            color="#ff7f0e",
            lw=1,
            label="USS",
            marker="." if len(lines.uss) <= 50 else None,
            ms=4,
        )
    if limit_mb:
        ax.axhline(limit_mb, color="#d62728", ls="--", lw=1, label=f"memory limit {limit_mb:g} MB (PSS + swap)")
    ax.set_xlabel("seconds since strategy start")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)


AB_COLORS = {"a": "#1f77b4", "b": "#d62728"}
ROUND_STYLES = ("-", "--", ":", "-.")


def ab_memory_chart(entry: StrategyResult) -> bytes:
    """An A/B run's strategy (entry.ab): both sides on one chart, RSS at each iteration's
    after-infer mark for every round (A blue, B red, one line style per round, warm-up
    iterations hollow); the title gives each side's growth and B − A with its 95% CI."""
    fig = Figure(figsize=(7.5, 3.8))
    ax = fig.subplots()
    ab = entry.ab
    rounds = ab.rounds if ab is not None else []
    drawn = False
    for rnd in rounds:
        for side in ("a", "b"):
            e = getattr(rnd, side)
            series = _memory_series(e) if e is not None else []
            if not series:
                continue
            color, style = AB_COLORS[side], ROUND_STYLES[(rnd.round - 1) % len(ROUND_STYLES)]
            ax.plot(
                [p.i for p in series],
                [p.rss_mb for p in series],
                style,
                color=color,
                lw=1.3,
                label=f"{side.upper()} round {rnd.round}" + ("" if e.status is Status.OK else f" ({e.status})"),
            )
            ax.plot(
                [p.i for p in series if not p.warmup],
                [p.rss_mb for p in series if not p.warmup],
                "o",
                color=color,
                ms=3.5,
            )
            warm = [p for p in series if p.warmup]
            if warm:
                ax.plot([p.i for p in warm], [p.rss_mb for p in warm], "o", mfc="white", mec=color, ms=3.5)
            drawn = True
    title = f"{entry.strategy} — A and B, memory per iteration"
    g = ab.growth_mb_per_iter if ab is not None else None
    if g is not None and g.a is not None and g.b is not None:
        title += f"\ngrowth A {g.a:+.3f}, B {g.b:+.3f}"
        if g.diff is not None:
            title += f", B − A {g.diff:+.3f}"
            if g.ci95:
                title += f" [{g.ci95[0]:+.3f}, {g.ci95[1]:+.3f}]"
        title += " MB/iter"
    ax.set_title(title, fontsize=10)
    if not drawn:
        note(ax, "no iterations recorded on either side")
    else:
        ax.set_xlabel("iteration (hollow: warm-up)")
        _integer_ticks(ax)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)
    ax.set_ylabel("RSS MB (after infer)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return png(fig)


def history_chart(series: list, changes: dict, this_run: str | None = None) -> bytes:
    """A soak key's history for one strategy (and model): one panel per figure (growth per
    iteration, median TTFT, tokens/s, CER; changepoints.Series, oldest first), each run a
    point in run order; each change point (changes: Series.key -> [ChangePoint]) a red
    dashed line before its first run, that run red and named; `this_run` ringed."""
    return png(_history_figure(series, changes, this_run))


def _history_figure(series: list, changes: dict, this_run: str | None = None) -> Figure:
    fig = Figure(figsize=(9, 2.1 * max(len(series), 1) + 0.5))
    axes = fig.subplots(max(len(series), 1), 1, squeeze=False)[:, 0]
    first = series[0] if series else None
    title = first.strategy + (f" ({first.model})" if first and first.model else "") if first else "no series"
    if first is not None and first.host:
        title += f" on {first.host}"
    for ax, s in zip(axes, series, strict=False):
        label, nd = METRICS.get(s.metric, (s.metric, 3))
        xs = list(range(1, len(s.points) + 1))
        ys = [p.value for p in s.points]
        ax.plot(xs, ys, "-o", color="#1f77b4", ms=3, lw=1.2)
        marked = []
        for c in changes.get(s.key, []):
            x = c.position + 1
            ax.axvline(x - 0.5, color="#d62728", ls="--", lw=1.2)
            ax.plot([x], [ys[c.position]], "o", color="#d62728", ms=6)
            ax.annotate(
                f"{c.run_id}\n{c.before:.{nd}f} → {c.after:.{nd}f}",
                (x - 0.5, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(4, -4),
                textcoords="offset points",
                fontsize=7,
                color="#d62728",
                va="top",
                bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
            )
            marked.append(c.run_id)
        here = [k for k, p in enumerate(s.points) if p.run_id == this_run]
        for k in here:
            ax.plot([k + 1], [ys[k]], "o", mfc="none", mec="#2ca02c", ms=11, mew=2, label="this run")
        ax.set_ylabel(label, fontsize=8)
        ax.grid(alpha=0.3)
        ax.set_xlim(0.5, max(len(xs), 1) + 0.5)
        _integer_ticks(ax)
        if here:
            ax.legend(fontsize=7, loc="lower right", frameon=False)
        ax.set_title(
            f"{label}: "
            + (f"change point at run {', '.join(marked)}" if marked else "no change point")
            + f" ({len(ys)} runs)",
            fontsize=9,
            loc="left",
        )
    if not series:
        note(axes[0], "no runs of this key with a figure")
    axes[-1].set_xlabel("run of the soak key on this host, oldest first")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def _measured(entry: StrategyResult, key: str) -> list[float]:
    values = (getattr(it, key) for it in entry.measured())
    return [float(v) for v in values if v is not None]


# the bars' labels, as the comparison table rounds each figure (never "1.47e+03")
BAR_FORMATS = {"ttft_ms_median": "{:,.1f}", "rtf_median": "{:.3f}"}
BOX_LABEL_CHARS = 24  # a box plot's strategy label is cut to this many characters


def bar_label(key: str, value: float | None) -> str:
    return "-" if value is None else BAR_FORMATS.get(key, "{:,.2f}").format(value)


def short_label(text: str, chars: int = BOX_LABEL_CHARS) -> str:
    return text if len(text) <= chars else text[: chars - 1] + "…"


def timing_chart(result: RunResult) -> bytes:
    """Box plots (with every point) of TTFT and tokens/s per strategy, warm-up left out."""
    entries = result.results
    fig = Figure(figsize=(11, 3.6))
    axes = fig.subplots(1, 2)
    for ax, key, title in ((axes[0], "ttft_ms", "time to first token (ms)"), (axes[1], "tokens_per_s", "tokens / s")):
        ax.set_title(title + ", after warm-up", fontsize=11)
        labels = [f"{e.engine} {e.strategy}" if e.engine else e.strategy for e in entries]
        data = [_measured(e, key) for e in entries]
        if not any(data):
            note(ax, "no measured iterations")
            continue
        positions = list(range(1, len(entries) + 1))
        with_data = [(p, d) for p, d in zip(positions, data, strict=False) if d]
        ax.boxplot([d for _, d in with_data], positions=[p for p, _ in with_data], widths=0.5, showfliers=False)
        for p, d in with_data:
            jitter = [p + 0.18 * ((k * 0.618) % 1 - 0.5) for k in range(len(d))]
            crowd = len(d) > MARKERS_UP_TO  # thousands of points: smaller and fainter, the box stays readable
            ax.plot(jitter, d, "o", ms=1.5 if crowd else 3, alpha=0.15 if crowd else 0.5, color="#1f77b4")
        for p, d in zip(positions, data, strict=False):
            if not d:
                ax.text(p, 0.5, "none", ha="center", va="center", color="#999", transform=ax.get_xaxis_transform())
        ax.set_xticks(positions)
        # many or long names: rotated further, cut to BOX_LABEL_CHARS, so no two overlap
        crowded = len(entries) > 3 or max(len(lb) for lb in labels) > 14
        ax.set_xticklabels(
            [short_label(lb) for lb in labels],
            rotation=35 if crowded else 0,
            ha="right" if crowded else "center",
            fontsize=7 if crowded else 8,
        )
        ax.set_xlim(0.4, len(entries) + 0.6)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return png(fig)


def runtime_chart(result: RunResult) -> bytes:
    """`orch compare --engines`: memory (RSS after each request) over iterations, one line per
    engine × strategy, warm-up included (dashed) — and bars of each row's median TTFT and
    RTF. Rows that ran no iteration (an engine that could not run, a skipped strategy) have
    no line and no bar."""
    entries = [e for e in result.results if e.iterations]
    fig = Figure(figsize=(12, 4.2))
    mem, ttft, rtf = fig.subplots(1, 3, gridspec_kw={"width_ratios": [5, 3, 3]})
    mem.set_title("memory over iterations (RSS after infer)", fontsize=11)
    if not entries:
        for ax in (mem, ttft, rtf):
            note(ax, "no iterations recorded")
        return png(fig)
    colors = matplotlib.colormaps["tab10"]
    labels = [f"{e.engine} {e.strategy}" if e.engine else e.strategy for e in entries]
    for k, (e, label) in enumerate(zip(entries, labels, strict=True)):
        series = _memory_series(e)
        if not series:
            continue
        color = colors(k % 10)
        warm = [p for p in series if p.warmup]
        if warm:
            mem.plot([p.i for p in warm], [p.rss_mb for p in warm], "--", color=color, lw=1)
        rest = [p for p in series if not p.warmup] or series
        mem.plot([p.i for p in rest], [p.rss_mb for p in rest], "-o", color=color, ms=3, lw=1.5, label=label)
    mem.set_xlabel("iteration")
    mem.set_ylabel("MB")
    _integer_ticks(mem)
    mem.grid(alpha=0.3)
    mem.legend(fontsize=7, loc="best")
    for ax, key, title in ((ttft, "ttft_ms_median", "TTFT ms (median)"), (rtf, "rtf_median", "RTF (median)")):
        ax.set_title(title, fontsize=11)
        values = [getattr(e.summary, key) if e.summary else None for e in entries]
        ys = list(range(len(entries)))
        ax.barh(ys, [v or 0 for v in values], color=[colors(k % 10) for k in ys])
        for y, v in zip(ys, values, strict=True):
            ax.text(v or 0, y, " " + bar_label(key, v), va="center", fontsize=7)
        ax.set_yticks(ys)
        ax.set_yticklabels(labels if ax is ttft else [], fontsize=7)
        ax.invert_yaxis()
        ax.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    return png(fig)
