"""The memory guard: no worker may take the host down. Every sample of a worker's process
tree (periodic and at phase marks) is checked against a limit; the first one over it kills
the worker's process group at once, from the sampling thread, and the strategy ends with
status `memory-limit` (the runner reads `tripped`).

Default limit: DEFAULT_SHARE of the memory available (MemAvailable) when the run starts, per
worker tree — what the host can give without swapping, with room left for everything else.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import psutil

from orchestrator.sampler import Sample

DEFAULT_SHARE = 0.8


def default_limit_mb() -> float:
    return DEFAULT_SHARE * psutil.virtual_memory().available / 2**20


@dataclass
class Trip:
    rss_mb: float  # the tree's RSS + swap in the sample that crossed the limit
    t: float  # that sample's time (parent's monotonic clock)


class MemoryGuard:
    def __init__(self, limit_mb: float):
        self.limit_mb = limit_mb
        self.pid: int | None = None
        self.tripped: Trip | None = None

    def watch(self, pid: int) -> None:
        self.pid = pid

    def __call__(self, sample: Sample) -> None:
        # resident plus swapped out: leaked pages pushed to swap still count
        used = sample.rss_mb + (sample.swap_mb or 0.0)
        if self.tripped is not None or used <= self.limit_mb or self.pid is None:
            return
        self.tripped = Trip(used, sample.t)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the worker and every program it started
        except (ProcessLookupError, PermissionError):
            pass

    def message(self, where: str) -> str:
        assert self.tripped is not None
        return (
            f"memory limit: the worker's process tree reached {self.tripped.rss_mb:.0f} MB (RSS + swap) "
            f"{where}, over the {self.limit_mb:.0f} MB limit (--max-rss-mb); worker stopped"
        )
