"""The automatic sweep (`orch load --sweep`), GuideLLM's shape: a synchronous level (one
request at a time: what one caller alone gets), a max-throughput level (a closed loop that
keeps every worker busy with a request waiting behind each: what the service can do at most),
then open-loop rates evenly between the two measured throughputs, the last at the maximum.
Each rate level stops sending once it is over-saturated (its queue wait keeps rising:
levels.saturation), so a sweep that overshoots does not pile up a queue that takes minutes
to drain.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.load.arrivals import ClosedLoop, OpenLoop

MIN_LEVELS = 3  # synchronous, throughput, and at least one rate between


@dataclass(frozen=True)
class Sweep:
    levels: int  # every level, the synchronous and the throughput ones included (>= MIN_LEVELS)
    servers: int  # workers (or connections): the throughput level keeps 2 x this in flight
    arrival: str = "poisson"  # the rate levels' arrival process (arrivals.ARRIVALS)
    burstiness: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.levels < MIN_LEVELS:
            raise ValueError(f"--sweep-levels must be >= {MIN_LEVELS} (got {self.levels})")

    def first(self) -> list[ClosedLoop]:
        """The two levels that measure the range: synchronous, then max throughput."""
        return [ClosedLoop(1, "synchronous"), ClosedLoop(2 * self.servers, "throughput")]

    def rates(self, synchronous_rps: float, throughput_rps: float) -> list[float]:
        """`levels - 2` rates evenly from the synchronous throughput (left out: it was just
        measured) to the maximum (included); none when neither level finished a request."""
        n = self.levels - 1  # points from synchronous to throughput, both ends included
        lo, hi = synchronous_rps, max(throughput_rps, synchronous_rps)
        if not hi > 0:
            return []
        return [float(f"{lo + (hi - lo) * k / (n - 1):.4g}") for k in range(1, n)]  # 4 figures: a readable rate

    def rate_levels(self, synchronous_rps: float, throughput_rps: float, first_level: int = 2) -> list[OpenLoop]:
        return [
            OpenLoop(self.arrival, rate, self.burstiness, self.seed + first_level + k)
            for k, rate in enumerate(self.rates(synchronous_rps, throughput_rps))
        ]

    def describe(self) -> str:
        return f"sweep of {self.levels} levels ({self.arrival})"
