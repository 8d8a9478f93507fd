"""The memory guard: no worker may take the host down. Every sample of a worker's process
tree (periodic and at phase marks) is checked against a limit (RSS + swap); one over it is
confirmed by an exact reading (PSS + swap: a forked child's shared pages count once), and
then the worker's process group is killed at once, from the sampling thread, and the
strategy ends with status `memory-limit` (the runner reads `tripped`).

Default limit: DEFAULT_SHARE of the memory available (MemAvailable) when the run starts, per
worker tree — what the host can give without swapping, with room left for everything else.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from orchestrator.run.sampler import Sample, read_tree

DEFAULT_SHARE = 0.8


def default_limit_mb() -> float:
    return DEFAULT_SHARE * psutil.virtual_memory().available / 2**20


@dataclass
class Trip:
    rss_mb: float  # the tree's PSS + swap when the limit was confirmed crossed
    t: float  # that sample's time (parent's monotonic clock)


def tree_pss_mb(pid: int) -> float | None:
    """The tree's proportional set size plus swap: pages a forked child still shares with its
    parent count once (RSS counts them in both, so a worker starting ffmpeg reads double for
    the milliseconds between fork and exec)."""
    s = read_tree(pid, full=True)
    if s is None:
        return None
    return (s.pss_mb if s.pss_mb is not None else s.rss_mb) + (s.swap_mb or 0.0)


class MemoryGuard:
    def __init__(self, limit_mb: float, confirm: Callable[[int], float | None] = tree_pss_mb):
        self.limit_mb = limit_mb
        self.confirm = confirm  # a second, exact reading before anything is killed
        self.pid: int | None = None
        self.tripped: Trip | None = None

    def watch(self, pid: int) -> None:
        self.pid = pid

    def __call__(self, sample: Sample) -> None:
        # resident plus swapped out: leaked pages pushed to swap still count
        used = sample.rss_mb + (sample.swap_mb or 0.0)
        if self.tripped is not None or used <= self.limit_mb or self.pid is None:
            return
        exact = self.confirm(self.pid)  # RSS over the limit: is it, counting shared pages once?
        if exact is None or exact <= self.limit_mb:
            return
        self.tripped = Trip(exact, sample.t)
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the worker and every program it started
        except (ProcessLookupError, PermissionError):
            pass

    def message(self, where: str) -> str:
        assert self.tripped is not None
        return (
            f"memory limit: the worker's process tree reached {self.tripped.rss_mb:.0f} MB (PSS + swap) "
            f"{where}, over the {self.limit_mb:.0f} MB limit (--max-rss-mb); worker stopped"
        )
