"""External memory sampling: the parent reads each worker's memory with psutil, at a fixed
rate on its own thread and once at every phase mark. Workers never measure themselves.

A sample covers the worker's whole process tree (engine programs and `ffmpeg` children
included) and keeps the worker's own figures apart (`self_*`). MB = MiB.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

MiB = 1024 * 1024


@dataclass
class Sample:
    t: float  # parent's time.monotonic()
    rss_mb: float  # whole tree
    uss_mb: float | None
    pss_mb: float | None
    self_rss_mb: float  # the worker process alone
    self_uss_mb: float | None
    cpu_user_s: float  # whole tree
    cpu_system_s: float
    procs: int

    @property
    def engine_rss_mb(self) -> float:
        """The tree without the worker: a command-line engine and its children."""
        return self.rss_mb - self.self_rss_mb

    @property
    def engine_uss_mb(self) -> float | None:
        if self.uss_mb is None or self.self_uss_mb is None:
            return None
        return self.uss_mb - self.self_uss_mb


def read_tree(pid: int) -> Sample | None:
    """One reading of a process and its descendants; None if the worker is gone."""
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return None
    t = time.monotonic()
    rss = uss = pss = cpu_u = cpu_s = 0.0
    self_rss, self_uss, full = 0.0, None, True
    for n, proc in enumerate(procs):
        try:
            with proc.oneshot():
                try:
                    mem = proc.memory_full_info()  # USS/PSS come from smaps: Linux only
                    p_uss, p_pss = mem.uss, getattr(mem, "pss", None)
                except (psutil.AccessDenied, AttributeError):
                    mem, p_uss, p_pss = proc.memory_info(), None, None
                cpu = proc.cpu_times()
        except psutil.Error:
            if n == 0:
                return None
            continue  # a child that just exited
        rss += mem.rss
        cpu_u += cpu.user
        cpu_s += cpu.system
        if p_uss is None or p_pss is None:
            full = False
        else:
            uss += p_uss
            pss += p_pss
        if n == 0:
            self_rss, self_uss = mem.rss / MiB, (p_uss / MiB if p_uss is not None else None)
    return Sample(t=t, rss_mb=rss / MiB, uss_mb=uss / MiB if full else None,
                  pss_mb=pss / MiB if full else None, self_rss_mb=self_rss, self_uss_mb=self_uss,
                  cpu_user_s=cpu_u, cpu_system_s=cpu_s, procs=len(procs))


class Sampler:
    """Samples one worker at `hz` on a background thread; `mark()` takes one sample now."""

    def __init__(self, hz: float = 20.0):
        self.period = 1.0 / hz if hz > 0 else None
        self.samples: list[Sample] = []
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, pid: int) -> None:
        with self._lock:
            self._pid = pid
        if self.period and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="orch-sampler", daemon=True)
            self._thread.start()

    def unwatch(self) -> None:
        with self._lock:
            self._pid = None

    def mark(self) -> Sample | None:
        with self._lock:
            pid = self._pid
        sample = read_tree(pid) if pid else None
        if sample:
            with self._lock:
                self.samples.append(sample)
        return sample

    def between(self, t0: float, t1: float) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if t0 <= s.t <= t1]

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)

    def _run(self) -> None:
        next_t = time.monotonic()
        while not self._stop.is_set():
            self.mark()
            next_t += self.period
            delay = next_t - time.monotonic()
            if delay < 0:  # fell behind (a slow read): skip, do not burst to catch up
                next_t = time.monotonic()
                delay = 0
            self._stop.wait(delay)
