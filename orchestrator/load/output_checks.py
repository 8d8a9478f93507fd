"""Outputs checked under load: MLPerf LoadGen's compliance tests in orch's terms.

- **Drift under load** (LoadGen's TEST01: outputs logged during the performance run must equal
  the accuracy run's): before the levels, each distinct audio is sent once with nothing else in
  flight (the reference pass, level REFERENCE_LEVEL); afterwards every measured request's text
  is compared with its audio's reference. Greedy decoding gives one text per audio, so a text
  that differs under concurrency is drift under load, counted per level.
- **Caching** (LoadGen's TEST04: one repeated sample must not run faster than distinct ones):
  `n` requests of the same audio interleaved with `n` requests of distinct clips made from it
  (leading silence of 10 ms x k, so the bytes differ and the work does not), one at a time. A
  runtime whose repeated requests are faster — median ratio under CACHING_RATIO and a one-sided
  Mann-Whitney test under CACHING_P — is flagged as caching a repeated input: orch sends the same
  file every time by default, so such a runtime would flatter itself.
"""

from __future__ import annotations

import statistics
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.load.arrivals import ClosedLoop
from orchestrator.load.levels import RequestRecord

REFERENCE_LEVEL = -1
REPEATED_LEVEL = -2
DISTINCT_LEVEL = -3
CACHING_RATIO = 0.9  # repeated median TTFT below 90% of the distinct one's ...
CACHING_P = 0.01  # ... and a one-sided Mann-Whitney p under this: caching
EXAMPLES = 3  # drifted requests kept per level as examples

Audio = tuple[str | None, float | None]


def _one(pool: Any, level: int, entry: Audio, next_i: Callable[[], int], seed: int) -> None:
    """One request of `entry`, nothing else in flight."""
    pool.run_level(level, ClosedLoop(1, "check"), 1, None, 0, [entry], next_i, seed)


def reference_pass(pool: Any, audio: list[Audio], next_i: Callable[[], int], seed: int) -> None:
    """Each distinct audio once, alone (their texts are read back from the records)."""
    for entry in sorted(set(audio), key=lambda e: e[0] or ""):
        _one(pool, REFERENCE_LEVEL, entry, next_i, seed)


def references(records: list[RequestRecord]) -> dict[str | None, str]:
    """The reference pass's text per audio (ok requests only)."""
    return {r.audio: r.text for r in records if r.level == REFERENCE_LEVEL and r.status == "ok"}


def drift_under_load(records: list[RequestRecord], level: int, refs: dict[str | None, str]) -> dict:
    """How many of the level's ok measured requests gave a text other than their audio's reference."""
    compared = [r for r in records if r.level == level and not r.warmup and r.status == "ok" and r.audio in refs]
    drifted = [r for r in compared if r.text != refs[r.audio]]
    examples = [{"i": r.i, "audio": r.audio, "expected": refs[r.audio], "got": r.text} for r in drifted[:EXAMPLES]]
    return {"compared": len(compared), "drifted": len(drifted), "examples": examples}


def distinct_clips(source: str, n: int, folder: Path) -> list[Audio]:
    """`n` WAV files with the source's samples behind 10 ms x (k + 1) of silence."""
    folder.mkdir(parents=True, exist_ok=True)
    with wave.open(source, "rb") as w:
        params, frames = w.getparams(), w.readframes(w.getnframes())
    out: list[Audio] = []
    for k in range(n):
        pad = b"\0" * (params.sampwidth * params.nchannels * (params.framerate // 100) * (k + 1))
        path = folder / f"clip-{k + 1:04d}.wav"
        with wave.open(str(path), "wb") as w:
            w.setparams(params)
            w.writeframes(pad + frames)
        seconds = (len(pad) + len(frames)) / (params.sampwidth * params.nchannels * params.framerate)
        out.append((str(path), seconds))
    return out


def caching_pass(pool: Any, entry: Audio, n: int, folder: Path, next_i: Callable[[], int], seed: int) -> None:
    """`n` repeated and `n` distinct requests, interleaved, one at a time (the VM's drift hits both)."""
    assert entry[0] is not None
    clips = distinct_clips(entry[0], n, folder)
    _one(pool, REPEATED_LEVEL, entry, next_i, seed)  # seen once, so every later one is a repeat
    for clip in clips:
        _one(pool, DISTINCT_LEVEL, clip, next_i, seed)
        _one(pool, REPEATED_LEVEL, entry, next_i, seed)


def caching_verdict(records: list[RequestRecord]) -> dict:
    """Repeated against distinct TTFT (the first repeated request, a miss, left out)."""
    repeated = [r.ttft_ms for r in records if r.level == REPEATED_LEVEL and r.status == "ok"][1:]
    distinct = [r.ttft_ms for r in records if r.level == DISTINCT_LEVEL and r.status == "ok"]
    rep, dis = [v for v in repeated if v is not None], [v for v in distinct if v is not None]
    out: dict[str, Any] = {"repeated": len(rep), "distinct": len(dis), "caching": None}
    if len(rep) < 8 or len(dis) < 8:
        out["why"] = f"too few requests to tell ({len(rep)} repeated, {len(dis)} distinct; 8 a side needed)"
        return out
    from scipy.stats import mannwhitneyu  # when a run is analysed, not while it sends

    med_r, med_d = statistics.median(rep), statistics.median(dis)
    p = float(mannwhitneyu(rep, dis, alternative="less").pvalue)
    out.update(repeated_ttft_ms=med_r, distinct_ttft_ms=med_d, p=p)
    out["caching"] = med_r < CACHING_RATIO * med_d and p < CACHING_P
    verdict = "faster: a repeated input is cached" if out["caching"] else "not faster: no sign of caching"
    out["why"] = f"repeated audio {verdict} (TTFT median {med_r:.1f} vs {med_d:.1f} ms distinct, p={p:.3g})"
    return out
