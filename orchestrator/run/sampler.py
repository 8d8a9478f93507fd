"""External memory sampling: the parent reads each worker's memory from outside, at a fixed
rate and once at every phase mark. Workers never measure themselves.

A sample covers the worker's whole process tree (engine programs and `ffmpeg` children
included) and keeps the worker's own figures apart (`self_*`). MB = MiB.

Two kinds of sample, because USS/PSS cost ~20 times the rest (the kernel walks the page
tables for smaps_rollup):

- cheap (the periodic ones, `hz`, default 20): RSS, RssAnon and swap (so a leak that gets
  swapped out still shows) and the process count of the tree; `uss_mb`/`pss_mb`/
  `self_uss_mb` and the CPU times are None.
- full (every `mark()`, and one periodic sample every 1/`full_hz` s, default FULL_HZ =
  0.2: every 5 s): the same plus USS, PSS and the tree's CPU times. Phase marks are
  always full, so the per-iteration figures (`after_infer` and the other marks) carry
  USS/PSS as before; a mark puts the next periodic full sample a full period off.
  `full_hz >= hz` makes every sample full (the old behaviour); `full_hz=0`, marks only.

On Linux the tree is read from /proc directly (`orchestrator.run.procfs.TreeReader`: only the
tree's own files, kept open between readings; no scan of the host's processes). Elsewhere
psutil does the reading (`BACKEND`), as before. What it costs the parent:
`scripts/bench_overhead.py`, and docs/measurement.md's "What the harness costs".

All periodic samples, of every watching Sampler, are taken by one thread (`orch-sampler`):
watching several workers at once costs one wake-up per tick, not a thread each.
`on_sample` is called with every sample (a memory guard's hook), on that thread for the
periodic ones.
"""

from __future__ import annotations

import bisect
import math
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import psutil

from orchestrator.run import procfs

MiB = 1024 * 1024

FULL_HZ = 0.2  # default rate of periodic full (USS/PSS) samples: one every 5 s

# "procfs" (Linux) or "psutil"; a module setting so a benchmark can compare the two
BACKEND = "procfs" if procfs.AVAILABLE else "psutil"


@dataclass
class Sample:
    t: float  # parent's time.monotonic()
    rss_mb: float  # whole tree
    uss_mb: float | None  # whole tree; None on cheap samples, or where the OS gives no USS
    pss_mb: float | None
    self_rss_mb: float  # the worker process alone
    self_uss_mb: float | None
    cpu_user_s: float | None  # whole tree; on full samples only (None on cheap ones)
    cpu_system_s: float | None
    procs: int  # live processes in the tree (zombies hold no memory and are not counted)
    rss_anon_mb: float | None = None  # whole tree, anonymous resident pages (heap, not files)
    swap_mb: float | None = None  # whole tree, swapped out: a leak can move here, RSS flat
    # phase marks only (procfs): the tree's CPU seconds with its reaped children's; at an
    # after-infer mark also its threads, fds, maps, mapped-file MB, VmSize and VmHWM
    # (procfs.RESOURCE_KEYS; Sampler.read_resources)
    resources: dict[str, float] | None = None
    cpu_s: float | None = None
    peak_reset: bool | None = None  # a before-infer mark: whether VmHWM was reset after it

    @property
    def engine_rss_mb(self) -> float:
        """The tree without the worker: a command-line engine and its children."""
        return self.rss_mb - self.self_rss_mb

    @property
    def engine_uss_mb(self) -> float | None:
        if self.uss_mb is None or self.self_uss_mb is None:
            return None
        return self.uss_mb - self.self_uss_mb

    @property
    def full(self) -> bool:
        """Whether this sample carries USS (a phase mark or a periodic full sample)."""
        return self.uss_mb is not None


def read_tree(pid: int, full: bool = True) -> Sample | None:
    """One reading of a process and its descendants; None if the worker is gone. `full`:
    USS/PSS too (the expensive part)."""
    if BACKEND == "procfs":
        return _read_tree_procfs(pid, full)
    return _read_tree_psutil(pid, full)


def _read_tree_procfs(pid: int, full: bool) -> Sample | None:
    reader = procfs.TreeReader(pid)
    try:
        t = time.monotonic()
        return _from_rows(t, reader.rows(full), full)
    finally:
        reader.close()


def _from_rows(t: float, rows: list[tuple] | None, full: bool) -> Sample | None:
    """A Sample from `procfs.TreeReader.rows` (root first)."""
    if rows is None:
        return None
    rss = anon = swap = uss = pss = 0
    user = system = 0.0
    has_uss = full
    for _, p_rss, p_anon, p_swap, p_user, p_system, p_uss, p_pss in rows:
        rss += p_rss
        anon += p_anon
        swap += p_swap
        if full:
            user += p_user
            system += p_system
        if p_uss is None:
            has_uss = False
        else:
            uss += p_uss
            pss += p_pss
    root_uss = rows[0][6]
    return Sample(
        t=t,
        rss_mb=rss / MiB,
        uss_mb=uss / MiB if has_uss else None,
        pss_mb=pss / MiB if has_uss else None,
        self_rss_mb=rows[0][1] / MiB,
        self_uss_mb=root_uss / MiB if root_uss is not None else None,
        cpu_user_s=user if full else None,
        cpu_system_s=system if full else None,
        procs=len(rows),
        rss_anon_mb=anon / MiB,
        swap_mb=swap / MiB,
    )


def _read_tree_psutil(pid: int, full: bool, clock: Callable[[], float] = time.monotonic) -> Sample | None:
    """The portable path (no /proc): psutil, descendants by a scan of all processes."""
    try:
        root = psutil.Process(pid)
        procs = [root] + root.children(recursive=True)
    except psutil.Error:
        return None
    t = clock()
    rss = uss = pss = cpu_u = cpu_s = 0.0
    self_rss, self_uss, has_uss = 0.0, None, full
    for n, proc in enumerate(procs):
        try:
            with proc.oneshot():
                p_uss = p_pss = None
                if full:
                    try:
                        mem = proc.memory_full_info()  # USS/PSS come from smaps: Linux only
                        p_uss, p_pss = mem.uss, getattr(mem, "pss", None)
                    except (psutil.AccessDenied, AttributeError):
                        mem = proc.memory_info()
                else:
                    mem = proc.memory_info()
                cpu = proc.cpu_times() if full else None
        except psutil.Error:
            if n == 0:
                return None
            continue  # a child that just exited
        rss += mem.rss
        if cpu is not None:
            cpu_u += cpu.user
            cpu_s += cpu.system
        if p_uss is None or p_pss is None:
            has_uss = False
        else:
            uss += p_uss
            pss += p_pss
        if n == 0:
            self_rss, self_uss = mem.rss / MiB, (p_uss / MiB if p_uss is not None else None)
    return Sample(
        t=t,
        rss_mb=rss / MiB,
        uss_mb=uss / MiB if has_uss else None,
        pss_mb=pss / MiB if has_uss else None,
        self_rss_mb=self_rss,
        self_uss_mb=self_uss,
        cpu_user_s=cpu_u if full else None,
        cpu_system_s=cpu_s if full else None,
        procs=len(procs),
    )


def _sample_time(s: Sample) -> float:
    return s.t


class Ticker(Protocol):
    """What calls `Sampler.tick(now)` at each watching Sampler's rate: the shared sampling
    thread (`_Clock`), or a test's own hand."""

    def add(self, sampler: Sampler) -> None: ...
    def remove(self, sampler: Sampler) -> None: ...


class Sampler:
    """Samples one worker at `hz` (0: phase marks only); `mark()` takes a full sample now.

    `full_hz`: how often a periodic sample also reads USS/PSS (0: only at marks).
    `on_sample(sample)`: called with every sample, periodic ones on the sampling thread
    (shared by all Samplers: keep it quick). A hook that raises is reported once on stderr,
    kept in `hook_error` and no longer called; sampling goes on.
    `clock` stamps the samples and schedules the periodic full ones; `ticker` takes the
    periodic ones (default: the shared `orch-sampler` thread, on time.monotonic). A test
    gives both, and its own ticker calls `tick(now)`: no thread, no wall-clock timing.
    """

    def __init__(
        self,
        hz: float = 20.0,
        full_hz: float = FULL_HZ,
        on_sample: Callable[[Sample], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        ticker: Ticker | None = None,
    ):
        self.period = 1.0 / hz if hz > 0 else None
        self.full_period = 1.0 / full_hz if full_hz > 0 else None
        self._all_full = (
            self.full_period is not None and self.period is not None and self.full_period <= self.period
        )  # full_hz >= hz: every sample full
        self.on_sample = on_sample
        self.hook_error: BaseException | None = None
        self.tick_error: BaseException | None = None
        self.samples: list[Sample] = []
        self._pid: int | None = None
        self._reader: procfs.TreeReader | None = None  # the watched tree's open /proc files
        # held while reading too: one reading at a time, and none after unwatch()/stop()
        self._lock = threading.Lock()
        self._stopped = False
        self._next_full = 0.0
        self._clock = clock
        self._ticker: Ticker = ticker if ticker is not None else _CLOCK

    def watch(self, pid: int) -> None:
        with self._lock:
            self._pid = pid
            periodic = self.period is not None and not self._stopped
            if self.full_period is not None:  # the first periodic full one a period from now
                self._next_full = self._clock() + self.full_period - 0.5 * (self.period or 0.0)
        if periodic:
            self._ticker.add(self)

    def unwatch(self) -> None:
        self._ticker.remove(self)
        with self._lock:
            self._pid = None
            self._close_reader()

    def mark(self) -> Sample | None:
        """A full sample now, with the tree's CPU time (a phase mark)."""
        return self._take(full=True, cpu=True)

    def read_resources(self, sample: Sample | None) -> None:
        """The tree's threads, fds, maps, VmSize, VmHWM onto an after-infer mark's sample
        (procfs.TreeReader.resources: the dearer reads, taken once per request, after it),
        then `on_sample` sees it again (the resource guard)."""
        with self._lock:
            if self._reader is None or sample is None:
                return
            sample.resources = self._reader.resources()
        hook = self.on_sample
        if hook is not None and sample.resources is not None:
            try:
                hook(sample)
            except Exception as exc:  # noqa: BLE001 - a broken hook must not stop sampling
                self.hook_error, self.on_sample = exc, None
                print("orch: sampler on_sample hook failed; not called again:", file=sys.stderr)
                traceback.print_exc()

    def reset_peak(self, sample: Sample | None) -> None:
        """Reset the tree's VmHWM (procfs.reset_peak) after a before-infer mark, so the next
        mark reads the request's own peak; `sample.peak_reset` says whether the kernel let it."""
        with self._lock:
            if self._reader is None or sample is None:
                return
            sample.peak_reset = procfs.reset_peak(list(self._reader.pids))

    def between(self, t0: float, t1: float) -> list[Sample]:
        """The samples taken from t0 to t1. Each is stamped and appended under the lock, so
        the list is in time order: a bisect, not a scan of the whole run at every iteration."""
        with self._lock:
            lo = bisect.bisect_left(self.samples, t0, key=_sample_time)
            hi = bisect.bisect_right(self.samples, t1, key=_sample_time)
            return self.samples[lo:hi]

    def stop(self) -> None:
        self._ticker.remove(self)
        with self._lock:
            self._stopped = True
            self._close_reader()

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def tick(self, now: float) -> None:
        """A periodic sample, from the ticker (the clock thread); an unexpected error is
        reported once and kept in `tick_error`, and the next tick tries again."""
        try:
            full = self._all_full or (self.full_period is not None and now >= self._next_full)
            self._take(full, periodic=True)
        except Exception as exc:  # noqa: BLE001 - the clock thread serves every Sampler
            if self.tick_error is None:
                print("orch: sampler failed to read the worker's memory:", file=sys.stderr)
                traceback.print_exc()
            self.tick_error = exc

    def _take(self, full: bool, periodic: bool = False, cpu: bool = False) -> Sample | None:
        with self._lock:
            pid = self._pid
            if pid is None or (periodic and self._stopped):
                return None
            if BACKEND != "procfs":
                sample = _read_tree_psutil(pid, full, self._clock)
            else:  # the tree's files stay open from one reading to the next
                if self._reader is None or self._reader.pid != pid:
                    self._close_reader()
                    self._reader = procfs.TreeReader(pid)
                t = self._clock()
                sample = _from_rows(t, self._reader.rows(full), full)
                if sample is not None and cpu:
                    sample.cpu_s = self._reader.cpu_seconds()
            if sample is None:
                return None
            self.samples.append(sample)
            if full and self.full_period is not None:
                # the next periodic full one a full period after this (half a tick's slack)
                self._next_full = sample.t + self.full_period - 0.5 * (self.period or 0.0)
        hook = self.on_sample
        if hook is not None:
            try:
                hook(sample)
            except Exception as exc:  # noqa: BLE001 - a broken hook must not stop sampling
                self.hook_error, self.on_sample = exc, None
                print("orch: sampler on_sample hook failed; not called again:", file=sys.stderr)
                traceback.print_exc()
        return sample


class _Clock:
    """The one thread that takes the periodic samples of every watching Sampler. Ticks sit
    on a grid of each Sampler's period, so Samplers at the same rate share one wake-up; a
    tick that comes late is skipped, not made up in a burst. The thread exits when no
    Sampler is watching and starts again with the next one.

    It waits on a bare lock used as a wake-up token (released by `add`), not on a
    Condition: a wake-up costs the parent about half as much CPU."""

    def __init__(self) -> None:
        self._mu = threading.Lock()  # guards _due and _thread
        self._wake = threading.Lock()  # locked = no wake-up pending
        self._wake.acquire()
        self._due: dict[Sampler, float] = {}
        self._thread: threading.Thread | None = None

    def add(self, sampler: Sampler) -> None:
        with self._mu:
            if sampler not in self._due:
                now, p = time.monotonic(), sampler.period
                assert p is not None  # only a periodic Sampler joins the clock
                self._due[sampler] = math.ceil(now / p) * p
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="orch-sampler", daemon=True)
                self._thread.start()
            elif self._wake.locked():
                self._wake.release()  # the sleeping thread looks at the new due time

    def remove(self, sampler: Sampler) -> None:
        with self._mu:
            self._due.pop(sampler, None)

    def _run(self) -> None:
        while True:
            with self._mu:
                if not self._due:
                    self._thread = None
                    return
                now = time.monotonic()
                wait = min(self._due.values()) - now
                due = []
                if wait <= 0:
                    for s, t in self._due.items():
                        if t <= now:
                            p = s.period or 0.0  # never None here: see add()
                            nxt = t + p
                            if nxt <= now:  # fell behind (a slow read): next grid point
                                nxt = (math.floor(now / p) + 1) * p
                            self._due[s] = nxt
                            due.append(s)
            if not due:
                self._wake.acquire(timeout=wait)  # True if add() woke us: look again
                continue
            for s in due:
                s.tick(now)


_CLOCK = _Clock()
