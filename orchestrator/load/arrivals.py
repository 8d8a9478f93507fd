"""When requests arrive: an open-loop schedule (offsets in seconds from the level's start,
whatever the service does) or a closed loop (a fixed number in flight: the next request is
sent when one ends). Pure and seeded: the same arguments give the same schedule.

Open-loop processes, at `rate` requests/s:
- constant: every 1/rate s.
- poisson: exponential gaps, mean 1/rate (gaps' squared coefficient of variation 1).
- gamma: gamma gaps with shape `burstiness` and mean 1/rate (vLLM's burstiness factor):
  1 is poisson, below 1 burstier, above 1 more even. Gap CV^2 = 1/burstiness.
The first request arrives at offset 0.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

ARRIVALS = ("constant", "poisson", "gamma")


@dataclass(frozen=True)
class OpenLoop:
    kind: str  # one of ARRIVALS
    rate: float  # requests per second, > 0
    burstiness: float = 1.0  # gamma's shape; poisson is 1, constant ignores it
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ARRIVALS:
            raise ValueError(f"arrival {self.kind!r}: choose from {', '.join(ARRIVALS)}")
        if not self.rate > 0:
            raise ValueError(f"rate must be > 0 (got {self.rate})")
        if not self.burstiness > 0:
            raise ValueError(f"burstiness must be > 0 (got {self.burstiness})")

    @property
    def gap_cv2(self) -> float:
        """The squared coefficient of variation of the gaps (queueing theory's c_a^2)."""
        return {"constant": 0.0, "poisson": 1.0, "gamma": 1.0 / self.burstiness}[self.kind]

    def describe(self) -> str:
        shape = f" burstiness {self.burstiness:g}" if self.kind == "gamma" else ""
        return f"{self.rate:g}/s {self.kind}{shape}"

    def offsets(self, count: int | None = None, duration: float | None = None) -> list[float]:
        """The arrival offsets (s) of `count` requests, or of every request before `duration` s."""
        if (count is None) == (duration is None):
            raise ValueError("give a count or a duration, not both")
        out: list[float] = []
        for t in self.stream():
            if (count is not None and len(out) >= count) or (duration is not None and t >= duration):
                return out
            out.append(t)
        return out  # never reached: the stream does not end

    def stream(self) -> Iterator[float]:
        """Every arrival offset (s), without end: a level under a floor (load.length) takes
        them until the floor is met. The same seed, the same offsets as `offsets`."""
        rng = random.Random(self.seed)
        t = 0.0
        while True:
            yield t
            t += self._gap(rng)

    def _gap(self, rng: random.Random) -> float:
        if self.kind == "constant":
            return 1.0 / self.rate
        if self.kind == "poisson":
            return rng.expovariate(self.rate)
        return rng.gammavariate(self.burstiness, 1.0 / (self.rate * self.burstiness))


@dataclass(frozen=True)
class ClosedLoop:
    concurrency: int  # requests in flight (queued or running), >= 1
    label: str = ""  # what the level is for (a sweep's "synchronous", "throughput")

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1 (got {self.concurrency})")

    def describe(self) -> str:
        return f"{self.label} (concurrency {self.concurrency})" if self.label else f"concurrency {self.concurrency}"


Arrivals = OpenLoop | ClosedLoop
