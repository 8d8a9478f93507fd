"""The stream's figures, each declared once here, pure functions of the updates (times are
stream seconds: 0 when the stream's first sample was spoken).

Text latency is measured by audio position, not by word (with random weights there are no
words to time): an update's text is taken to cover the audio its whole text covered when
that text was last as long; committed-text latency of audio position t is when the
committed text first covers t, minus t."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from orchestrator.quality.scoring import score

GRID_S = 0.5  # committed-text latency is read every GRID_S seconds of speech


def replay(arrivals: Sequence[float], computes: Sequence[float]) -> list[tuple[float, float]]:
    """The paced (compute-aware) timeline of updates with these compute times: each starts
    when its audio has arrived and the previous one has finished. [(start, end)]."""
    out, free = [], float("-inf")
    for arrival, compute in zip(arrivals, computes, strict=False):
        start = max(arrival, free)
        free = start + compute
        out.append((start, free))
    return out


def fall_behind(arrivals: Sequence[float], starts: Sequence[float], tolerance_s: float, least: int = 2) -> dict:
    """The stream position from which every update started later than its audio arrived
    (by more than `tolerance_s`) to the end, or that it kept up. Staying behind takes at
    least `least` updates: the last update alone, after a short last chunk, is not it."""
    behind = [s - a > tolerance_s for a, s in zip(arrivals, starts, strict=False)]
    k = len(behind)
    while k > 0 and behind[k - 1]:
        k -= 1
    if len(behind) - k < min(least, len(behind)) or k == len(behind):
        return {"kept_up": True, "at_s": None, "update": None, "tolerance_s": tolerance_s}
    return {"kept_up": False, "at_s": arrivals[k], "update": k + 1, "tolerance_s": tolerance_s}


def first_text(updates: Sequence, speech_start_s: float) -> float | None:
    """Seconds from the first speech to the first update that showed any text."""
    for u in updates:
        if (u.committed + u.tentative).strip():
            return u.end_s - speech_start_s
    return None


def committed_positions(updates: Sequence) -> list[float]:
    """Per update, how far into the audio its committed text reaches (never back): where the
    whole shown text was that long — between the audio ends of the last update whose shown
    text was no longer and the next one's, in proportion to the characters (text grows
    with the audio between two updates)."""
    out, best = [], 0.0
    shown = [len(u.committed) + len(u.tentative) for u in updates]
    for k, u in enumerate(updates):
        n = len(u.committed)
        for j in range(k + 1):
            if shown[j] > n:
                continue
            pos = updates[j].audio_end_s
            nxt = next((i for i in range(j + 1, k + 1) if shown[i] > n), None)
            if nxt is not None and shown[nxt] > shown[j] and updates[nxt].audio_end_s > pos:
                pos += (n - shown[j]) / (shown[nxt] - shown[j]) * (updates[nxt].audio_end_s - pos)
            best = max(best, pos)
        out.append(best)
    return out


def committed_latency(updates: Sequence, spans: Sequence[tuple[float, float, str]], grid_s: float = GRID_S) -> dict:
    """When audio at position t first appears as committed text, minus t, for t every
    `grid_s` inside the speech spans: median, p90, max, and how many positions never did."""
    positions = committed_positions(updates)
    lat, never = [], 0
    for start, end, _ in spans:
        t = start + grid_s
        while t <= end + 1e-9:
            got = _committed_at(updates, positions, t)
            lat.append(got) if got is not None else None
            never += got is None
            t += grid_s
    return {**_stats(lat), "positions": len(lat) + never, "never": never}


def _committed_at(updates, positions, t: float) -> float | None:
    for u, pos in zip(updates, positions, strict=False):
        if pos >= t - 1e-9:
            return u.end_s - t
    return None


def finalization(updates: Sequence, spans: Sequence[tuple[float, float, str]]) -> dict:
    """Speaker stops -> final text: per speech span, from its end to its committed text."""
    positions = committed_positions(updates)
    lat = [v for _, end, _ in spans if (v := _committed_at(updates, positions, end)) is not None]
    return {**_stats(lat), "spans": len(spans), "never": len(spans) - len(lat)}


def revisions(updates: Sequence) -> dict:
    """Characters of shown text later changed: per update, what the last one showed past the
    part this one kept."""
    changed, previous = 0, ""
    for u in updates:
        shown = u.committed + u.tentative
        same = 0
        for a, b in zip(previous, shown, strict=False):
            if a != b:
                break
            same += 1
        changed += len(previous) - same
        previous = shown
    final = len(previous)
    return {
        "chars_changed": changed,
        "final_chars": final,
        "per_final_char": round(changed / final, 4) if final else None,
    }


def per_update(updates: Sequence) -> dict:
    """Compute time, audio covered and lag behind real time, over the updates."""
    return {
        "updates": len(updates),
        "compute_s": _stats([u.compute_s for u in updates]),
        "audio_s": _stats([u.audio_end_s - u.audio_start_s for u in updates]),
        "lag_s": _stats([u.lag_s for u in updates]),
    }


def memory(samples: Sequence, t0: float, t1: float = float("inf")) -> dict:
    """The worker tree's RSS over the stream (t0 to t1, parent monotonic): at its start,
    peak, end, and the slope (not the whole-file decode after it)."""
    points = [(s.t - t0, s.rss_mb) for s in samples if t0 <= s.t <= t1]
    if len(points) < 2:
        return {"samples": len(points)}
    ts, mb = [p[0] for p in points], [p[1] for p in points]
    half = len(points) // 2
    return {
        "samples": len(points),
        "rss_start_mb": round(mb[0], 2),
        "rss_peak_mb": round(max(mb), 2),
        "rss_end_mb": round(mb[-1], 2),
        "rss_slope_mb_per_min": round(_slope(ts, mb) * 60, 3),
        # the second half alone: a warm-up that levels off has none, a growth keeps it
        "rss_slope_second_half_mb_per_min": round(_slope(ts[half:], mb[half:]) * 60, 3),
    }


def _slope(ts: Sequence[float], mb: Sequence[float]) -> float:
    return statistics.linear_regression(ts, mb).slope if len(ts) > 1 and max(ts) > min(ts) else 0.0


def penalty(stream_text: str, whole_text: str) -> dict:
    """The streamed text against the same audio transcribed whole (greedy), scored by orch's
    quality scoring with the whole-file text as the reference."""
    s = score(whole_text, stream_text)
    return {"mode": s.mode, "rate": round(s.rate, 4), "identical": stream_text.strip() == whole_text.strip()}


def _stats(values: Sequence[float]) -> dict:
    if not values:
        return {"n": 0, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return {
        "n": len(values),
        "median": round(statistics.median(ordered), 4),
        "p90": round(p90, 4),
        "max": round(ordered[-1], 4),
    }
