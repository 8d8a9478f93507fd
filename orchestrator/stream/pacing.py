"""The stream loop. Paced (compute-aware): chunk c's audio has arrived at c x chunk_s of
stream time; an update starts when its audio has arrived AND the previous update has
finished, so an engine slower than real time falls further behind with every chunk.
Unpaced (compute-unaware, the lower bound): the updates run back to back and each is
counted as if it had started the moment its audio arrived (its lag is its own compute time);
`figures.replay` puts the measured compute times on the paced timeline."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.stream.policies import Ask, Reply, Shown


@dataclass
class Update:
    k: int  # 1-based
    arrival_s: float  # stream time its audio had all arrived
    start_s: float  # stream time it started (unpaced: = arrival_s)
    end_s: float  # stream time its text was shown (unpaced: arrival_s + compute_s)
    compute_s: float  # the parent's round trip: the WAV written, the request, the answer
    audio_start_s: float
    audio_end_s: float
    prefix: str | None
    prefix_state: str | None  # taken | ignored | None (none sent)
    committed: str
    tentative: str
    final: bool

    @property
    def lag_s(self) -> float:
        """How far behind real time its text appeared: shown at end_s, its audio ended at arrival_s."""
        return self.end_s - self.arrival_s

    def as_dict(self) -> dict:
        return {**vars(self), "lag_s": round(self.lag_s, 4)}


def chunk_ends(seconds: float, chunk_s: float) -> list[float]:
    """Where each chunk's audio ends: chunk_s, 2 chunk_s, ..., the stream's end."""
    n = max(1, math.ceil(seconds / chunk_s - 1e-9))
    return [min(seconds, c * chunk_s) for c in range(1, n + 1)]


def run(
    policy,
    seconds: float,
    chunk_s: float,
    answer: Callable[[int, Ask], Reply],
    paced: bool,
    on_update: Callable[[Update], None],
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Feed the stream chunk by chunk to `policy`; every update it asks for is answered by
    `answer(k, ask)` and reported to `on_update` the moment its text is shown."""
    t0 = clock()
    k = 0
    ends = chunk_ends(seconds, chunk_s)
    for c, arrival in enumerate(ends):
        if paced:
            wait = t0 + arrival - clock()
            if wait > 0:
                sleep(wait)
        for ask in policy.asks(arrival, c == len(ends) - 1):
            k += 1
            started = clock()
            reply = answer(k, ask)
            compute = clock() - started
            shown: Shown = policy.take(ask, reply)
            start_s = started - t0 if paced else arrival
            on_update(
                Update(
                    k,
                    arrival,
                    start_s,
                    start_s + compute,
                    compute,
                    ask.start_s,
                    ask.end_s,
                    ask.prefix,
                    reply.prefix,
                    shown.committed,
                    shown.tentative,
                    ask.final,
                )  # fmt: skip
            )
