"""The service under load: N worker slots, one queue, a dispatcher, and the generator.

Each slot is a thread that owns one long-lived worker process (serve mode, protocol v3):
when its worker is idle it takes the next request from the ONE queue (first come, first
served: the first idle worker gets it), stamps `dispatched`, writes the request line and
reads the worker's events until `iteration_done`. That is the dispatcher: idle workers pull,
so a request waits only while every worker is busy. While requests run the parent only
stamps and reads; records go to a writer thread, which writes each once (the record sink).

The generator is a thread that puts requests in the queue at their scheduled times (open
loop), or keeps `concurrency` requests in flight (closed loop). Python's thread switch
interval is lowered while a level runs (SWITCH_INTERVAL_S), so a thread holding the GIL
delays the generator by at most that.

Every worker's process tree is sampled from outside (orchestrator.run.sampler); a pool
memory guard kills every worker when the pool's RSS + swap, confirmed by PSS + swap, goes
over the limit. A worker that crashes, errs or times out is replaced by a new one (its
request is `failed` or `timed_out`); under `fresh-process` every request gets a new one.

What is particular to the target sits in a few methods (`_make_slots`, `_start_target`,
`_stop_target`, `_abort_running`, `pids`, `memory_series`, `engine_info`): worker processes
here, a server in load/server.py (ServerPool); the queue, dispatcher and generator are shared.
"""

from __future__ import annotations

import collections
import os
import queue
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workers import protocol

from orchestrator.errors import WriteFailed
from orchestrator.load.arrivals import Arrivals, ClosedLoop, OpenLoop
from orchestrator.load.length import Floor
from orchestrator.load.levels import RequestRecord, itl_ms, saturation
from orchestrator.run import crash_cause, procfs
from orchestrator.run.memory_guard import tree_pss_mb
from orchestrator.run.sampler import Sample, Sampler
from orchestrator.run.worker_process import WorkerExited, WorkerProcess, WorkerTimeout

SWITCH_INTERVAL_S = 0.0005
EXIT_WAIT_S = 10.0
SATURATION_CHECK_S = 1.0  # how often a level that stops when over-saturated looks at its waits
SATURATION_CHECK_POINTS = 150  # thinned to this: a check costs ~2 ms of the parent, not ~15 (Theil-Sen is quadratic)
# a level is stopped only with this many requests dispatched AND a wait seen over the rise bound:
# a poisson burst early in a level fits a steep slope over a few points that a longer run would not
SATURATION_STOP_MIN_REQUESTS = 16


class StartFailed(Exception):
    """A worker did not get to serving (load failed, crashed, timed out)."""


@dataclass
class PoolConfig:
    # the workers' config in serve mode (LoadPlan.build: orchestrator.run.worker_config); None
    # for a server target (load/server.py)
    worker_config: protocol.WorkerConfig | None
    workers: int
    log_dir: Path
    request_timeout: float = 120.0
    start_timeout: float = 300.0
    sample_hz: float = 10.0
    max_rss_mb: float | None = None
    max_queue: int = 10_000
    env: dict[str, str] | None = None
    max_requests: int | None = None  # run-wide bound on requests sent (a server target's)

    @property
    def fresh_process(self) -> bool:
        """A process per request (strategy fresh-process): no long-lived worker to grow."""
        return self.worker_config is not None and self.worker_config.strategy == "fresh-process"


class PoolGuard:
    """The memory guard over the whole pool: the sum of every worker tree's latest RSS+swap;
    over the limit, confirmed by the sum of PSS+swap, every worker's group is killed."""

    def __init__(
        self,
        limit_mb: float,
        pids: Callable[[], list[int]],
        confirm=tree_pss_mb,
        kill: bool = True,
        stopped: str = "every worker stopped",
    ):
        self.limit_mb = limit_mb
        self.pids = pids
        self.confirm = confirm
        self.kill = kill  # False for a process orch did not start (--pid): the run stops, it lives
        self.stopped = stopped  # what the message says happened
        self.latest: dict[str, float] = {}
        self.tripped_mb: float | None = None
        self._lock = threading.Lock()

    def hook(self, slot: str) -> Callable[[Sample], None]:
        def on_sample(sample: Sample) -> None:
            with self._lock:
                self.latest[slot] = sample.rss_mb + (sample.swap_mb or 0.0)
                if self.tripped_mb is not None or sum(self.latest.values()) <= self.limit_mb:
                    return
                pids = self.pids()
                exact = sum(v for pid in pids if (v := self.confirm(pid)) is not None)
                if exact <= self.limit_mb:
                    return
                self.tripped_mb = exact
            for pid in pids if self.kill else []:
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

        return on_sample

    def message(self) -> str:
        return (
            f"memory limit: the pool's process trees reached {self.tripped_mb:.0f} MB (PSS + swap), over the "
            f"{self.limit_mb:.0f} MB limit (--max-rss-mb); {self.stopped}"
        )


class Slot:
    """One worker position: its process (replaced when it dies), sampler and completions."""

    def __init__(self, pool: Pool, index: int):
        self.pool = pool
        self.name = f"w{index + 1}"
        self.proc: WorkerProcess | None = None
        self.started = 0
        hook = pool.guard.hook(self.name) if pool.guard else None
        self.sampler = Sampler(hz=pool.cfg.sample_hz, full_hz=0, on_sample=hook)
        self.completions: list[float] = []  # parent time of every request this slot finished
        self.thread = threading.Thread(target=self._serve_loop, name=f"orch-load-{self.name}", daemon=True)
        self.dead: str | None = None  # why this slot stopped taking requests
        self.engine_info: dict | None = None

    # -- worker life
    def start_worker(self) -> None:
        cfg = self.pool.cfg
        self.started += 1
        config = cfg.worker_config
        assert config is not None and config.serve, "a worker pool serves (LoadPlan.build)"
        log = cfg.log_dir / f"{self.name}.log"
        proc = WorkerProcess(f"{self.name}#{self.started}", config, log, env=cfg.env)
        self.proc = proc
        self.sampler.watch(proc.pid)
        deadline = time.monotonic() + cfg.start_timeout
        try:
            while True:
                ev = proc.next_event(deadline)
                if isinstance(ev, protocol.Ready):
                    self.engine_info = ev.engine
                elif isinstance(ev, protocol.Phase):
                    self.sampler.mark()
                    proc.ack()
                    if ev.name == "after_load":
                        return
                elif isinstance(ev, protocol.Error):
                    raise StartFailed(f"{ev.kind}: {ev.message}")
        except (WorkerTimeout, WorkerExited, protocol.ProtocolError) as exc:
            why = f"no sign of life for {cfg.start_timeout:g} s" if isinstance(exc, WorkerTimeout) else str(exc)
            if isinstance(exc, WorkerExited):
                why = proc.exit_description()[1]
            self.drop_worker()
            raise StartFailed(f"worker {self.name} did not start serving: {why}; log: {log}") from None
        except StartFailed:
            self.drop_worker()
            raise

    def drop_worker(self) -> None:
        """Kill the worker's process group (it is dead, hung or done with)."""
        if self.proc is not None:
            self.sampler.unwatch()
            self.proc.__exit__(None, None, None)
            self.proc = None

    def retire_worker(self) -> list[str]:
        """End of input: the worker unloads and exits; what went wrong at exit, as notes."""
        proc, notes = self.proc, list[str]()
        if proc is None:
            return notes
        proc.end_input()
        deadline = time.monotonic() + EXIT_WAIT_S
        try:
            while not isinstance(ev := proc.next_event(deadline), protocol.Done):
                pass
            notes += [f"{self.name}: {n}" for n in ev.notes]
            if proc.wait_exit(EXIT_WAIT_S) is None:
                notes.append(f"{self.name}: hung at exit after serving; killed")
        except (WorkerTimeout, WorkerExited, protocol.ProtocolError) as exc:
            notes.append(f"{self.name}: did not end cleanly ({type(exc).__name__}); killed")
        self.drop_worker()
        return notes

    # -- serving
    def _serve_loop(self) -> None:
        pool = self.pool
        while True:
            rec = pool.take()
            if rec is None:
                return
            if self.proc is None:
                try:
                    self.start_worker()
                except StartFailed as exc:
                    rec.status, rec.error = "failed", str(exc)
                    self.dead = str(exc)
                    pool.finished(rec)
                    pool.slot_died(self)
                    return
            self.serve(rec)
            pool.finished(rec)
            if self.proc is not None and pool.cfg.fresh_process:
                self.retire_worker()  # its one request served: the process exits
            if self.proc is None and not pool.stopping:
                try:
                    self.start_worker()  # ready before the next request is taken
                except StartFailed as exc:
                    self.dead = str(exc)
                    pool.slot_died(self)
                    return

    def serve(self, rec: RequestRecord) -> None:
        proc = self.proc
        assert proc is not None
        rec.worker = self.name
        rec.dispatched = time.monotonic()
        proc.send_request(protocol.ServeRequest(i=rec.i, audio=rec.audio))
        deadline = rec.dispatched + self.pool.cfg.request_timeout
        token_times: list[float] = []
        error: protocol.Error | None = None
        try:
            while True:
                ev = proc.next_event(deadline)
                if isinstance(ev, protocol.Token):
                    token_times.append(ev.t)
                elif isinstance(ev, protocol.IterationDone):
                    if ev.i != rec.i:
                        raise protocol.ProtocolError(f"worker {proc.name}: iteration_done for {ev.i} during {rec.i}")
                    rec.freed = time.monotonic()
                    rec.status = "ok"
                    rec.t_request, rec.t_first, rec.t_end = ev.t_request, ev.t_first, ev.t_end
                    rec.tokens, rec.text, rec.itl_ms = ev.tokens, ev.text, itl_ms(token_times)
                    self.completions.append(rec.freed)
                    return
                elif isinstance(ev, protocol.Error):
                    error = ev
                elif isinstance(ev, protocol.Phase):
                    proc.ack()
        except WorkerTimeout:
            rec.status = "timed_out"
            rec.error = f"over the {self.pool.cfg.request_timeout:g} s request timeout; worker killed"
        except WorkerExited:
            rec.status = "failed"
            how = f"{error.kind}: {error.message}" if error else proc.exit_description()[1]
            how += crash_cause.cause_suffix(proc.log_tail(4000), how)
            rec.error = f"{how} during request {rec.i}"
        except protocol.ProtocolError as exc:
            rec.status, rec.error = "failed", str(exc)
        rec.freed = time.monotonic()
        self.drop_worker()
        if self.pool.stopping:
            rec.status, rec.error = "cancelled", "interrupted"


class Pool:
    def __init__(self, cfg: PoolConfig, write: Callable[[RequestRecord], None]):
        self.cfg = cfg
        self.guard = PoolGuard(cfg.max_rss_mb, self.pids) if cfg.max_rss_mb else None
        self._write = write
        self._queue: collections.deque[RequestRecord] = collections.deque()
        self._cv = threading.Condition()
        self._outstanding = 0  # submitted, not yet finished
        self._permits: threading.Semaphore | None = None  # closed loop
        self.stopping = False
        self._closed = False
        self.slots = self._make_slots()
        self.notes: list[str] = []
        self._submitted = 0  # run-wide, for cfg.max_requests
        self._writer_q: queue.Queue[RequestRecord | None] = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="orch-load-writer", daemon=True)
        self.write_failed: WriteFailed | None = None
        self._target_stopped = False
        self.level_cpu_start: float | None = None  # cpu_seconds() once a level's warm-up is done

    # -- what a target (worker processes here; a server in load/server.py) provides
    def _make_slots(self) -> list:
        return [Slot(self, k) for k in range(self.cfg.workers)]

    def _start_target(self) -> None:
        """Start every worker (loads run side by side); StartFailed if one does not serve."""
        errors = []
        for slot in self.slots:
            try:
                slot.start_worker()
            except StartFailed as exc:
                errors.append(str(exc))
        if errors:
            raise StartFailed("; ".join(errors))

    def _stop_target(self) -> None:
        for slot in self.slots:
            self.notes += slot.retire_worker()
            slot.sampler.stop()

    def _abort_running(self) -> None:
        """Ctrl-C: stop every running request now (its slot writes it as cancelled)."""
        for slot in self.slots:
            proc = slot.proc
            if proc is not None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.slots if s.proc is not None]

    def cpu_seconds(self) -> float | None:
        """CPU seconds of every worker: the live workers' trees (procfs) and every worker orch
        has reaped (its own children's times). Read before and after a level's measured
        requests: their difference is what the level cost. None without /proc."""
        if not procfs.AVAILABLE:
            return None
        reaped = os.times()
        total = reaped.children_user + reaped.children_system
        for slot in self.slots:
            proc = slot.proc
            cpu = procfs.tree_cpu_s(proc.pid) if proc is not None else None
            total += cpu or 0.0
        return total

    def memory_series(self) -> list[tuple[str, list[Sample], list[float]]]:
        """(who, its tree's samples, parent times of the requests it finished), per process tree."""
        return [(s.name, s.sampler.samples, s.completions) for s in self.slots]

    @property
    def engine_info(self) -> dict | None:
        return self.slots[0].engine_info

    # -- life
    def start(self) -> None:
        """Start the target, then the slot threads."""
        self._writer.start()
        try:
            self._start_target()
        except StartFailed:
            self.close()
            raise
        for slot in self.slots:
            slot.thread.start()

    def close(self) -> None:
        """No more requests: workers retire; records still queued for writing are written."""
        with self._cv:
            self._closed = True
            self._cv.notify_all()
        for slot in self.slots:
            if slot.thread.is_alive():
                slot.thread.join(timeout=self.cfg.request_timeout + EXIT_WAIT_S)
        if not self._target_stopped:
            self._target_stopped = True
            self._stop_target()
        self._writer_q.put(None)
        if self._writer.is_alive():
            self._writer.join()

    def interrupt(self) -> None:
        """Ctrl-C: queued requests become cancelled, running ones are killed (cancelled)."""
        with self._cv:
            self.stopping = True
            cancelled = list(self._queue)
            self._queue.clear()
            self._cv.notify_all()
        for rec in cancelled:
            rec.status, rec.error = "cancelled", "interrupted while queued"
            self.finished(rec)
        self._abort_running()

    # -- the queue
    def submit(self, rec: RequestRecord) -> None:
        with self._cv:
            self._outstanding += 1
            self._submitted += 1
            if len(self._queue) >= self.cfg.max_queue or self.stopping or self.alive == 0:
                full = len(self._queue) >= self.cfg.max_queue
                rec.status = "dropped" if full else "cancelled" if self.stopping else "failed"
                rec.error = (
                    f"the queue was full ({self.cfg.max_queue})"
                    if full
                    else "interrupted"
                    if self.stopping
                    else "no worker left"
                )
            else:
                self._queue.append(rec)
                self._cv.notify()
                return
        self.finished(rec)

    def take(self) -> RequestRecord | None:
        with self._cv:
            while not self._queue:
                if self._closed or self.stopping:
                    return None
                self._cv.wait()
            return self._queue.popleft()

    def finished(self, rec: RequestRecord) -> None:
        self._writer_q.put(rec)
        with self._cv:
            self._outstanding -= 1
            self._cv.notify_all()
        if self._permits is not None and not rec.warmup:
            self._permits.release()

    @property
    def alive(self) -> int:
        return sum(s.dead is None for s in self.slots)

    def slot_died(self, slot: Slot) -> None:
        """A slot that cannot start a worker: with none left, what is queued fails."""
        with self._cv:
            if self.alive:
                return
            lost = list(self._queue)
            self._queue.clear()
        for rec in lost:
            rec.status, rec.error = "failed", f"no worker left ({slot.dead})"
            self.finished(rec)

    def wait_idle(self, poll: float = 0.2) -> None:
        """Until every submitted request has finished (wakes up to let Ctrl-C in)."""
        with self._cv:
            while self._outstanding:
                self._cv.wait(poll)

    def flush(self) -> None:
        """Until every finished request so far is written (a sweep reads a level's records)."""
        self._writer_q.join()

    def _write_loop(self) -> None:
        """Write every finished request in turn. The first one the disk refuses (WriteFailed:
        the JSONL cut back to its last whole line) stops the run as Ctrl-C would, and no
        further record is tried; the runner tells it (`write_failed`)."""
        while (rec := self._writer_q.get()) is not None:
            if self.write_failed is None:
                try:
                    self._write(rec)
                except WriteFailed as exc:
                    self.write_failed = exc
                    self.interrupt()
            self._writer_q.task_done()
        self._writer_q.task_done()

    # -- the generator
    def _warm_up(self, warmup: int, make: Callable[[float, float, bool], RequestRecord]) -> None:
        """The level's warm-up requests, each to completion; then the CPU the measured
        requests' cost is counted from (level_cpu_start)."""
        for _ in range(warmup):
            now = time.monotonic()
            self.submit(make(now, now, True))
        self.wait_idle()
        self.level_cpu_start = self.cpu_seconds()

    def run_level(
        self,
        level: int,
        arrivals: Arrivals,
        count: int | None,
        duration: float | None,
        warmup: int,
        audio: list[tuple[str | None, float | None]],
        next_i: Callable[[], int],
        seed: int = 0,
        weights: list[float] | None = None,
        stop_saturated: bool = False,
        floor: Floor | None = None,
    ) -> str | None:
        """Warm-up requests (one per idle worker, not measured), then the level's requests; returns
        when every one has finished. `weights`: how often each audio file is picked (default
        uniform). `stop_saturated`: an open-loop level stops sending once its queue wait keeps
        rising (levels.saturation over the requests dispatched so far; those sent still run).
        `floor` (with neither `count` nor `duration`): send until it is met (load.length).
        Returns why the level stopped early, or None."""
        pick = random.Random(seed + 1_000_003 * (level + 1))
        measured: list[RequestRecord] = []

        def make(scheduled: float, sent: float, is_warmup: bool) -> RequestRecord:
            if len(audio) == 1:
                path, seconds = audio[0]
            elif weights:
                path, seconds = audio[pick.choices(range(len(audio)), weights)[0]]
            else:
                path, seconds = audio[pick.randrange(len(audio))]
            rec = RequestRecord(
                i=next_i(), level=level, warmup=is_warmup, audio=path, audio_s=seconds, scheduled=scheduled, sent=sent
            )
            if not is_warmup:
                measured.append(rec)
            return rec

        self._warm_up(warmup, make)
        old_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        stop = threading.Event()
        length = (count, duration, floor, measured)
        gen = threading.Thread(target=self._generate, args=(arrivals, length, make, stop), name="orch-load-generator")
        gen.daemon = True
        stopped: str | None = None
        watch = stop_saturated and isinstance(arrivals, OpenLoop)
        if watch:
            import orchestrator.results.analysis  # noqa: F401 - scipy loaded now, not mid-level under the generator
        try:
            gen.start()
            while gen.is_alive():
                gen.join(SATURATION_CHECK_S if watch else 0.2)
                if watch and gen.is_alive() and (stopped := _over_saturated(measured)):
                    stop.set()  # no more arrivals; those already sent run to their end
            self.wait_idle()
        finally:
            stop.set()
            sys.setswitchinterval(old_interval)
        return stopped

    def _generate(self, arrivals, length, make, stop: threading.Event) -> None:
        """Send the level's requests: `length` is (count, duration, floor, measured): a fixed
        count or duration, or a floor met by the measured requests out that will be answered
        (sent, not dropped) and the seconds elapsed."""
        count, duration, floor, measured = length

        def counted() -> int:
            return sum(r.status != "dropped" for r in list(measured))

        if floor is not None and (count is not None or duration is not None):
            floor = None  # a fixed length is the level's whole length
        if isinstance(arrivals, ClosedLoop):
            self._permits = threading.Semaphore(arrivals.concurrency)
            t0 = time.monotonic()
            sent = 0
            while not stop.is_set() and not self.stopping:
                if (count is not None and sent >= count) or self._at_bound():
                    break
                if not self._permits.acquire(timeout=0.2):
                    continue
                now = time.monotonic()
                if duration is not None and now - t0 >= duration:
                    break
                self.submit(make(now, now, False))
                sent += 1
                if floor is not None and floor.met(counted(), now - t0):
                    break  # the last one sent at or after the floor's seconds: the level spans them
            self._permits = None
            return
        t0 = time.monotonic() + 0.01  # a moment to get going: the first arrival is not late by birth
        offsets = arrivals.stream() if floor is not None else arrivals.offsets(count=count, duration=duration)
        for offset in offsets:
            deadline = t0 + offset
            while (delay := deadline - time.monotonic()) > 0:
                if stop.wait(delay):  # sleeps to the deadline; wakes at once on Ctrl-C
                    return
            if self.stopping or self._at_bound():
                return
            self.submit(make(deadline, time.monotonic(), False))
            if floor is not None and floor.met(counted(), offset):
                return  # the last one sent at or after the floor's seconds: the level spans them

    def _at_bound(self) -> bool:
        """The run-wide request bound (cfg.max_requests) reached: the generator stops, once noted."""
        bound = self.cfg.max_requests
        if bound is None or self._submitted < bound:
            return False
        note = f"stopped sending at the run's bound of {bound} requests"
        if note not in self.notes:
            self.notes.append(note)
        return True


def _over_saturated(records: list[RequestRecord]) -> str | None:
    """Why the level is over-saturated, or None: its queue wait keeps rising (levels.saturation
    over the requests dispatched so far) and the waits seen lately are over the rise bound."""
    dispatched = [r for r in list(records) if r.dispatched is not None]
    count = len(dispatched)
    if count < SATURATION_STOP_MIN_REQUESTS:
        return None
    recent = max(w for r in dispatched[-4:] if (w := r.queue_wait_ms) is not None)
    if count > SATURATION_CHECK_POINTS:
        step = len(dispatched) / SATURATION_CHECK_POINTS
        dispatched = [dispatched[int(k * step)] for k in range(SATURATION_CHECK_POINTS)] + [dispatched[-1]]
    sat = saturation(dispatched)
    if not sat.saturated or recent < sat.bound_ms:
        return None
    return f"over-saturated after {count} requests (the latest waited {recent:.0f} ms): {sat.why}"
