"""One worker's events → iteration records, and how the worker ended → a status.

`EventLoop.run(worker)` reads events until `done` (returns) or until the worker times out,
exits, errs or breaks the protocol (raises `StrategyStopped` with the status and a message that
says where). It never touches processes, files or clocks beyond what it is given, so a unit
test drives it with a scripted fake worker (tests/unit/test_worker_events.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from workers import protocol

from orchestrator.results.model import IterationRecord, PartialIteration, Status
from orchestrator.run import crash_cause
from orchestrator.run.record_builder import RecordBuilder, RequestInProgress
from orchestrator.run.sampler import Sample
from orchestrator.run.worker_process import WorkerExited, WorkerTimeout

TEARDOWN_TIMEOUT_S = 10.0


class StrategyStopped(Exception):
    """Ends a strategy early with a status other than ok (crashed, timeout, error, memory-limit);
    not the soak's results.model.Outcome."""

    def __init__(self, status: Status, error: str):
        super().__init__(error)
        self.status = status
        self.error = error


class Worker(Protocol):
    """What the loop needs of a worker (orchestrator.run.worker_process.WorkerProcess)."""

    name: str

    def next_event(self, deadline: float | None) -> protocol.Event: ...
    def ack(self) -> None: ...
    def kill(self) -> None: ...
    def wait_exit(self, timeout: float) -> int | None: ...
    def exit_description(self) -> tuple[str | None, str]: ...
    def log_tail(self, chars: int = 1500) -> str: ...
    def oom_evidence(self, last_rss_mb: float | None) -> crash_cause.OomEvidence: ...


# pending records -> scored and written (exactly once), popped as they are
Flush = Callable[[list[IterationRecord]], None]


class EventLoop:
    def __init__(
        self,
        builder: RecordBuilder,
        iter_timeout: float,
        mark: Callable[[], Sample | None],
        window: Callable[[float, float], list[Sample]],
        flush: Flush,
        clock: Callable[[], float] = time.monotonic,
        on_phase: Callable[[int, str], None] | None = None,
        noise: Sequence[str] = (),
        reset_peak: Callable[[Sample | None], None] | None = None,
        read_resources: Callable[[Sample | None], None] | None = None,
    ):
        self.builder = builder
        self.timeout = iter_timeout
        self.mark = mark
        self.window = window
        self._flush = flush
        self.clock = clock
        # called at every phase mark while the worker waits for its ack (iteration, name):
        # orchestrator.studies.attribution snapshots the worker's resident pages there
        self.on_phase = on_phase
        # the engine's log lines that are never a crash's cause (EngineSpec.log_noise)
        self.noise = tuple(noise)
        # after the before_infer mark: reset the tree's peak RSS (VmHWM), so the after_infer
        # mark reads the request's own (Sampler.reset_peak)
        self.reset_peak = reset_peak
        # at the after_infer mark: the tree's threads, fds, maps, VmSize, VmHWM onto its
        # sample (Sampler.read_resources), once per request, after it
        self.read_resources = read_resources
        self.current: RequestInProgress | None = None
        self.phases: dict[tuple, dict[str, Sample]] = {}
        self.pending: list[IterationRecord] = []
        self.last_done_i: int | None = None
        self.last_phase: str | None = None
        self.error_event: protocol.Error | None = None
        self.engine_info: dict | None = None
        self.teardown: list[str] = []
        self.starts: list[tuple[float, int]] = []  # (parent time, i) of every request
        # (iteration, phase name, wall-clock time) of every phase mark: the iteration
        # boundaries a tracer's capture is split by (orchestrator.studies.attribution)
        self.marks: list[tuple[int, str, float]] = []
        self.deadline = 0.0

    def flush(self) -> None:
        for rec in self.pending:
            self.builder.add_late_phases(rec, self.phases.get(rec.key, {}))
        self._flush(self.pending)

    def partial(self) -> PartialIteration | None:
        return self.builder.partial(self.current, self.clock())

    # ------------------------------------------------------------------ the loop
    def run(self, wp: Worker) -> None:
        self.deadline = self.clock() + self.timeout
        while True:
            try:
                ev = wp.next_event(self.deadline)
                if isinstance(ev, protocol.Done):
                    self.flush()
                    self._teardown(wp, ev)
                    return
                self.handle(wp, ev)
            except WorkerTimeout:
                wp.kill()
                self.flush()
                raise self._timed_out() from None
            except WorkerExited:
                self.flush()
                raise self._exited(wp) from None
            except protocol.ProtocolError as exc:
                wp.kill()
                self.flush()
                raise StrategyStopped(Status.ERROR, str(exc)) from None

    def handle(self, wp: Worker, ev: protocol.Event) -> None:
        if isinstance(ev, protocol.Ready):
            self.engine_info = ev.engine
        elif isinstance(ev, protocol.Phase):
            self._phase(wp, ev)
        elif isinstance(ev, protocol.IterationStart):
            self.flush()  # a no-op after its before_infer mark
            now = self.clock()
            self.current = RequestInProgress(i=ev.i, t_request=ev.t, started=now)
            self.starts.append((now, ev.i))
            self.deadline = now + self.timeout
        elif isinstance(ev, protocol.Token):
            if self.current is None or ev.i != self.current.i:
                raise protocol.ProtocolError(
                    f"worker {wp.name}: token for iteration {ev.i} during "
                    f"{self.current.i if self.current else 'no request'}"
                )
            self.current.chunks.append((ev.text, ev.t))
        elif isinstance(ev, protocol.IterationDone):
            self._done(wp, ev)
        elif isinstance(ev, protocol.Error):
            self.error_event = ev

    def _phase(self, wp: Worker, ev: protocol.Phase) -> None:
        sample = self.mark()
        self.marks.append((ev.i, ev.name, time.time()))
        self.last_phase = ev.name
        if sample is not None:
            self.phases.setdefault((ev.i, ev.model), {})[ev.name] = sample
        if ev.name == "after_infer" and self.read_resources:
            self.read_resources(sample)
        if ev.name == "before_infer":
            if self.reset_peak:
                self.reset_peak(sample)
            self.flush()  # the worker waits for the ack: nothing is being measured
        if self.on_phase:
            self.on_phase(ev.i, ev.name)
        wp.ack()
        if ev.name == "before_load":
            self.deadline = self.clock() + self.timeout  # each load gets the full time

    def _done(self, wp: Worker, ev: protocol.IterationDone) -> None:
        req = self.current
        if req is None or req.i != ev.i:
            raise protocol.ProtocolError(f"worker {wp.name}: iteration_done for {ev.i} without its iteration_start")
        phases = self.phases.get((ev.i, ev.model), {})
        self.pending.append(self.builder.record(ev, req, phases, self.window(req.started, self.clock())))
        self.last_done_i = ev.i
        self.current = None

    # ------------------------------------------------------------------ endings
    def _timed_out(self) -> StrategyStopped:
        t = f"{self.timeout:g}"
        if self.current and self.current.chunks:
            return StrategyStopped(
                Status.TIMEOUT,
                f"iteration {self.current.i} ran over the {t} s iteration "
                f"timeout while still streaming ({len(self.current.chunks)} chunks so far); "
                "worker killed (bound the output, e.g. --max-new-tokens)",
            )
        where = f"iteration {self.current.i}" if self.current else "start-up/load"
        return StrategyStopped(Status.TIMEOUT, f"no progress for {t} s during {where}; worker killed")

    def _exited(self, wp: Worker) -> StrategyStopped:
        sig, how = wp.exit_description()
        lines = crash_cause.meaningful_lines(wp.log_tail(4000), self.noise)
        cause = crash_cause.assertion_line(lines)
        log = crash_cause.log_block(lines)
        err = self.error_event
        if err:
            status = Status.CRASHED if err.kind == "engine_crashed" else Status.ERROR
            tb = f"\n{err.traceback}" if err.traceback else ""
            said = cause or " | ".join(ln.strip() for ln in lines[-2:])
            said = f"; the engine said: {said[:300]}" if said and said not in err.message else ""
            first, _, rest = err.message.partition("\n")
            rest = f"\n{rest}" if rest else ""
            return StrategyStopped(status, f"{err.kind}: {first}{said}{rest}{tb}{log}")
        if self.current:
            where = f"during iteration {self.current.i}"
        elif self.last_done_i:  # between requests: in an unload, a destroy, a re-load
            where = f"after iteration {self.last_done_i} (last phase mark: {self.last_phase or 'none'})"
        else:
            where = "before its first request"
        if sig == "SIGKILL":  # orch kills only with a message of its own; this came from outside
            how = crash_cause.kill_text(sig, wp.oom_evidence(self._last_rss()))
        cause = f": {cause}" if cause else ""
        if sig:
            return StrategyStopped(Status.CRASHED, f"{how} {where}{cause}{log}")
        return StrategyStopped(Status.ERROR, f"{how} {where} without a result{cause}{log}")

    def _last_rss(self) -> float | None:
        """The worker tree's last sampled RSS (MB), for the OOM evidence."""
        samples = self.window(float("-inf"), self.clock())
        return samples[-1].rss_mb if samples else None

    def _teardown(self, wp: Worker, ev: protocol.Done) -> None:
        self.teardown += [f"{wp.name}: {note}" for note in ev.notes]
        code = wp.wait_exit(TEARDOWN_TIMEOUT_S)
        if code is None:
            wp.kill()
            self.teardown.append(
                f"{wp.name}: hung at exit after finishing its work; killed after {TEARDOWN_TIMEOUT_S:g} s"
            )
        elif code != 0:
            _sig, how = wp.exit_description()
            self.teardown.append(f"{wp.name}: {how} at exit, after finishing its work")
