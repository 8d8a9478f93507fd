"""Per-iteration timing figures from the worker's own stamps.

All durations come from the worker's monotonic clock: request -> first chunk (TTFT),
chunk -> chunk (inter-token latency), request -> end (latency). Chunks that are only white
space (a trailing newline from a command-line program) are not counted as tokens.
"""

from __future__ import annotations

import numpy as np


def timing(
    t_req: float,
    t_end: float,
    chunks: list[tuple[str, float]],
    audio_s: float | None,
    engine_streamed: bool | None = None,
) -> dict:
    """A request's figures from its request and end stamps and its (text, stamp) chunks.

    `engine_streamed` is what the engine said (its `extra.streamed`): False for a runtime
    that gives the whole text at the end. Then TTFT is the latency and there is no
    tokens/s or ITL: nothing is invented from the one chunk's stamp."""
    if engine_streamed is False:
        latency_ms = (t_end - t_req) * 1000
        return {
            "ttft_ms": latency_ms,
            "tokens": sum(1 for text, _ in chunks if text.strip()),
            "tokens_per_s": None,
            "itl_ms_p50": None,
            "itl_ms_p95": None,
            "latency_ms": latency_ms,
            "rtf": (latency_ms / 1000) / audio_s if audio_s else None,
            "stream_spread_ms": None,
            "streamed": False,
        }
    stamps = [t for text, t in chunks if text.strip()]
    latency_ms = (t_end - t_req) * 1000
    ttft_ms = (stamps[0] - t_req) * 1000 if stamps else None
    gaps = np.diff(stamps) * 1000 if len(stamps) > 1 else np.array([])
    spread_ms = (stamps[-1] - stamps[0]) * 1000 if stamps else None
    tokens_per_s = (len(stamps) - 1) / (spread_ms / 1000) if spread_ms else None
    return {
        "ttft_ms": ttft_ms,
        "tokens": len(stamps),
        "tokens_per_s": tokens_per_s,
        "itl_ms_p50": float(np.percentile(gaps, 50)) if gaps.size else None,
        "itl_ms_p95": float(np.percentile(gaps, 95)) if gaps.size else None,
        "latency_ms": latency_ms,
        "rtf": (latency_ms / 1000) / audio_s if audio_s else None,
        # how the chunks arrived: a burst shows as a spread near 0 with many tokens, and
        # then tokens/s is not a speed (it is reported, and flagged here)
        "stream_spread_ms": spread_ms,
        "streamed": len(stamps) < 2 or bool(gaps.size and float(np.median(gaps)) >= 0.1),
    }
