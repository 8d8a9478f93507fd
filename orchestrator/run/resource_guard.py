"""The resource guard: no worker may run its host into a limit other than memory. At every
phase mark (where the tree's threads, fds and maps are read: run.procfs) each resource is
checked against its limit (run.procfs.resource_limits: the thread limit, RLIMIT_NOFILE,
vm.max_map_count) times a share (`--resource-guard`, default 0.9); one at or over it has the
worker's process group killed at once, and the strategy ends with status `resource-limit`,
the resource named (the runner reads `tripped`)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from orchestrator.run import procfs
from orchestrator.run.sampler import Sample


@dataclass
class ResourceTrip:
    resource: str
    value: float
    limit: float


class ResourceGuard:
    def __init__(
        self,
        share: float,
        limits: dict[str, float] | None = None,
        kill: Callable[[int, int], None] = os.killpg,
    ):
        self.share = share
        self.limits = procfs.resource_limits() if limits is None else limits
        self.kill = kill
        self.pid: int | None = None
        self.tripped: ResourceTrip | None = None

    def watch(self, pid: int) -> None:
        self.pid = pid

    def __call__(self, sample: Sample) -> None:
        if self.tripped is not None or self.pid is None or not sample.resources:
            return
        for name, limit in self.limits.items():
            value = sample.resources.get(name)
            if value is not None and value >= self.share * limit:
                self.tripped = ResourceTrip(name, value, limit)
                try:
                    self.kill(self.pid, signal.SIGKILL)  # the worker and every program it started
                except (ProcessLookupError, PermissionError):
                    pass
                return

    def message(self, where: str) -> str:
        assert self.tripped is not None
        t = self.tripped
        return (
            f"resource limit: the worker's process tree reached {t.value:.0f} {t.resource} {where}, "
            f"{self.share:.0%} of the limit {t.limit:.0f} (--resource-guard); worker stopped"
        )


def both(*hooks: Callable[[Sample], None] | None) -> Callable[[Sample], None] | None:
    """One sampler hook that calls each given one in turn (None: none given)."""
    given = [h for h in hooks if h is not None]
    if not given:
        return None
    if len(given) == 1:
        return given[0]

    def call(sample: Sample) -> None:
        for hook in given:
            hook(sample)

    return call
