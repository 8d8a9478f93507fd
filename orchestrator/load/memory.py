"""Memory growth per thousand requests: tree RSS (MB) at each periodic sample against how many
requests had finished by then, Theil-Sen slope x 1000 with its 95% CI
(orchestrator.results.analysis.slope_ci), per worker slot and for the pool (the sum of every
slot's latest sample). Only samples after the warm-up requests ended count. A fit over fewer
than results.load_run.MIN_GROWTH_REQUESTS requests is kept but shown as `too few requests`
(LoadMemory.describe), never as a figure per 1000 with a CI."""

from __future__ import annotations

import bisect

from orchestrator.load.levels import MemoryGrowth
from orchestrator.run.sampler import Sample

_FIT_POINTS = 400  # Theil-Sen is quadratic in points: longer series are thinned evenly


def growth(who: str, points: list[tuple[int, float]]) -> MemoryGrowth | None:
    """(finished requests, MB) points -> MB per 1000 requests; None with under 3 distinct counts."""
    if len({n for n, _ in points}) < 3:
        return None
    if len(points) > _FIT_POINTS:
        step = len(points) / _FIT_POINTS
        points = [points[int(k * step)] for k in range(_FIT_POINTS)]
    from orchestrator.results.analysis import slope_ci  # numpy/scipy when a run is analysed

    fit = slope_ci([n for n, _ in points], [mb for _, mb in points])
    if fit is None:  # no interval scipy can give: no figure (never a nan)
        return None
    slope, lo, hi = fit
    return MemoryGrowth(
        who,
        slope * 1000,
        (lo * 1000, hi * 1000),
        points[-1][0] - points[0][0],
        len(points),
        [(n, round(mb, 3)) for n, mb in points],
    )


def per_slot(samples: list[Sample], completions: list[float], since: float) -> list[tuple[int, float]]:
    done = sorted(completions)
    return [(bisect.bisect_right(done, s.t), s.rss_mb) for s in samples if s.t >= since and not s.full]


def pool_points(slots: list[tuple[list[Sample], list[float]]], since: float) -> list[tuple[int, float]]:
    """Each periodic sample of any slot, with every slot's latest: (all finished, pool MB)."""
    events = sorted((s.t, k, s.rss_mb) for k, (samples, _) in enumerate(slots) for s in samples if not s.full)
    done = sorted(t for _, completions in slots for t in completions)
    latest: dict[int, float] = {}
    out = []
    for t, k, mb in events:
        latest[k] = mb
        if t >= since and len(latest) == len(slots):
            out.append((bisect.bisect_right(done, t), sum(latest.values())))
    return out
