"""The charts of a load run's report (matplotlib, Agg, no pyplot state): latency percentiles
against the offered rate, throughput and goodput against it, and memory against the
requests served. Each takes a LoadRun (orchestrator.results.load_run) and returns PNG
bytes; each copes with a run that has no level, or no figure in a level."""

from __future__ import annotations

import statistics

from matplotlib.figure import Figure

from orchestrator.history.page import note, png
from orchestrator.results.load_run import LoadLevel, LoadRun

SATURATED = "#d62728"
INVALID = "#999999"


def level_x(run: LoadRun) -> tuple[list[float], str]:
    """Each level's place on the x axis and the axis' label: the offered rate when every
    level is open loop, the concurrency when every one is closed; mixed (`--sweep`): each
    level's rate (the offered one, or a closed loop's measured throughput); else the level's
    number (level_ticks names each)."""
    levels = run.levels
    if levels and all(lv.offered_rate is not None for lv in levels):
        return [float(lv.offered_rate) for lv in levels], "offered rate (requests/s)"  # type: ignore[arg-type]
    if levels and all(lv.concurrency is not None for lv in levels):
        return [float(lv.concurrency) for lv in levels], "concurrency (requests in flight)"  # type: ignore[arg-type]
    rates = [lv.offered_rate if lv.offered_rate is not None else lv.throughput_rps for lv in levels]
    if levels and all(r for r in rates):  # --sweep: closed-loop levels first, then open-loop rates
        return [float(r) for r in rates], "rate (requests/s: offered; closed-loop levels at their measured throughput)"
    return [float(lv.level) for lv in levels], "level"


def level_ticks(ax, xs: list[float], run: LoadRun, label: str) -> None:
    """On a level-number axis (levels of both kinds, one of which finished nothing): one tick
    per level, named with its rate or its concurrency, never a fractional level index."""
    if label != "level":
        return
    ax.set_xticks(xs)
    ax.set_xticklabels([_level_name(lv) for lv in run.levels], fontsize=7)


def _level_name(lv: LoadLevel) -> str:
    if lv.offered_rate is not None:
        return f"{lv.level}: {lv.offered_rate:g}/s"
    if lv.concurrency is not None:
        return f"{lv.level}: {lv.concurrency} in flight"
    return str(lv.level)


def _mark_levels(ax, xs: list[float], levels: list[LoadLevel]) -> None:
    """Saturated levels: a red band; invalid ones (the generator was late): a grey band."""
    for x, lv in zip(xs, levels, strict=True):
        if lv.saturated:
            ax.axvline(x, color=SATURATED, alpha=0.18, lw=10)
        elif not lv.valid:
            ax.axvline(x, color=INVALID, alpha=0.25, lw=10)


def _legend_notes(levels: list[LoadLevel]) -> str:
    parts = []
    if any(lv.saturated for lv in levels):
        parts.append("red band: saturated")
    if any(not lv.valid and not lv.saturated for lv in levels):
        parts.append("grey band: invalid (generator late)")
    return "; ".join(parts)


def _slo_bound(run: LoadRun, name: str) -> float | None:
    for term in (run.plan.get("slo") or "").split(","):
        key, _, value = term.partition("=")
        if key.strip() == name:
            try:
                return float(value)
            except ValueError:
                return None
    return None


def latency_chart(run: LoadRun) -> bytes:
    """Latency p50/p90/p99 and TTFT p50/p99 (from arrival) per level, ms, against the rate;
    the SLO's latency and TTFT bounds drawn when it has them."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    xs, label = level_x(run)
    ax.set_title("Latency percentiles per level (from arrival)", fontsize=11)
    drawn = False
    for figure, p, style, color, name in (
        ("latency_ms", "p50", "-o", "#1f77b4", "latency p50"),
        ("latency_ms", "p90", "-s", "#ff7f0e", "latency p90"),
        ("latency_ms", "p99", "-^", "#d62728", "latency p99"),
        ("ttft_ms", "p50", "--o", "#2ca02c", "TTFT p50"),
        ("ttft_ms", "p99", "--^", "#9467bd", "TTFT p99"),
    ):
        # in the order of x, not of the levels (a sweep's throughput level sits at the right); a
        # percentile its count cannot support is not drawn (results.early_stopping)
        pts = sorted(
            (x, y)
            for x, lv in zip(xs, run.levels, strict=True)
            if (pc := lv.figure(figure)) and (y := getattr(pc, p)) is not None
        )
        if pts:
            ax.plot([x for x, _ in pts], [y for _, y in pts], style, color=color, ms=5, lw=1.4, label=name)
            drawn = True
    if not drawn:
        note(ax, "no request finished in any level")
        return png(fig)
    for name, color in (("latency_ms", "#d62728"), ("ttft_ms", "#9467bd")):
        bound = _slo_bound(run, name)
        if bound is not None:
            ax.axhline(bound, color=color, ls=":", lw=1.2, label=f"SLO {name} ≤ {bound:g}")
    _mark_levels(ax, xs, run.levels)
    ax.set_xlabel(label + (f"  ({_legend_notes(run.levels)})" if _legend_notes(run.levels) else ""))
    level_ticks(ax, xs, run, label)
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return png(fig)


def throughput_chart(run: LoadRun) -> bytes:
    """Throughput (ok requests/s) and goodput (under the SLO) per level against the rate, the
    offered rate as a dotted diagonal (open loop); audio-seconds/s on the right axis."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    xs, label = level_x(run)
    ax.set_title("Throughput per level", fontsize=11)
    if not run.levels:
        note(ax, "no level in this run")
        return png(fig)
    by_x = sorted(zip(xs, run.levels, strict=True), key=lambda pair: pair[0])  # a sweep's levels are not in x order
    ax.plot(
        [x for x, _ in by_x],
        [lv.throughput_rps for _, lv in by_x],
        "-o",
        color="#1f77b4",
        ms=5,
        label="throughput (ok req/s)",
    )
    good = [(x, lv.goodput_rps) for x, lv in by_x if lv.goodput_rps is not None]
    if good:
        ax.plot([x for x, _ in good], [y for _, y in good], "-s", color="#2ca02c", ms=5, label="goodput (req/s in SLO)")
    if all(lv.offered_rate is not None for lv in run.levels):
        top = max(xs)
        ax.plot([0, top], [0, top], ":", color="#777", lw=1, label="offered")
    audio = [(x, lv.audio_s_per_s) for x, lv in by_x if lv.audio_s_per_s is not None]
    if audio:
        ax2 = ax.twinx()
        ax2.plot([x for x, _ in audio], [y for _, y in audio], "--d", color="#8c564b", ms=4, label="audio s/s")
        ax2.set_ylabel("audio seconds per second", color="#8c564b")
        ax2.set_ylim(bottom=0)
        ax2.legend(fontsize=8, loc="lower right")
    _mark_levels(ax, xs, run.levels)
    ax.set_xlabel(label + (f"  ({_legend_notes(run.levels)})" if _legend_notes(run.levels) else ""))
    level_ticks(ax, xs, run, label)
    ax.set_ylabel("requests/s")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return png(fig)


def _pool_series(ax, xs: list, ys: list, color: str, label: str, mb_per_1000: float) -> None:
    """The pool's series (one worker: its own) and its fitted line."""
    # points, thinly joined: a tree's short spikes (a child process per request) stay points
    # instead of filling the chart with vertical strokes
    ax.plot(xs, ys, "-o", color=color, lw=0.6, ms=2.5, alpha=0.8, label=label)
    # Theil-Sen's line: the slope, and the median intercept (an outlying first sample does not tilt it)
    slope = mb_per_1000 / 1000
    intercept = statistics.median(y - slope * x for x, y in zip(xs, ys, strict=True))
    ax.plot(
        [xs[0], xs[-1]], [intercept + slope * xs[0], intercept + slope * xs[-1]], "--", color="black", lw=0.9, alpha=0.7
    )


def memory_chart(run: LoadRun) -> bytes:
    """Tree RSS against the requests finished, level after level (each level's count goes on
    from where the last one ended): the pool's sum (one worker: that worker), each worker's
    own when there are several, and each level's fitted slope (MB per 1000 requests)."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    ax.set_title("Memory against requests served (periodic samples from outside)", fontsize=11)
    offset = 0
    drawn = False
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
    for k, lv in enumerate(run.levels):
        fits = [m for m in lv.memory if m.points]
        if not fits:
            continue
        main = lv.pool_memory
        color = colors[k % len(colors)]
        width = 0
        for m in fits:
            xs = [offset + n for n, _ in m.points]
            ys = [mb for _, mb in m.points]
            width = max(width, max(n for n, _ in m.points))
            if m is main:
                label = (
                    f"{lv.arrivals}: {m.mb_per_1000:+.2f} MB/1000"
                    if m.enough
                    else f"{lv.arrivals}: too few requests ({m.requests})"
                )
                _pool_series(ax, xs, ys, color, label, m.mb_per_1000)
            else:
                ax.plot(xs, ys, "-", color=color, lw=0.7, alpha=0.45)
            drawn = True
        offset += width
        ax.axvline(offset, color="#ccc", lw=0.8)
    if not drawn:
        why = "fresh-process: no long-lived worker" if run.strategy == "fresh-process" else "no memory fit"
        note(ax, f"no memory series ({why})")
        return png(fig)
    ax.set_xlabel("requests finished (levels one after another; thin lines: each worker; dashed: the fit)")
    ax.set_ylabel("tree RSS, MB (pool: sum of workers)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return png(fig)
