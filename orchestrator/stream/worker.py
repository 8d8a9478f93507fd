"""The stream's one long-lived engine worker: started from the run plan's worker config
(orchestrator.run.worker_config.build, strategy `restart`) in serve mode (protocol v3), its
process tree sampled from outside for the whole stream, asked one update at a time with the
update's audio written to a WAV and the start of the answer (`prefix`, additive in v3)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from workers import protocol

from orchestrator.load.pool import PoolGuard
from orchestrator.run.sampler import Sampler
from orchestrator.run.worker_process import WorkerExited, WorkerProcess, WorkerTimeout


class StreamWorkerError(Exception):
    """The worker did not start, failed, or did not answer in time (one line)."""


@dataclass
class Answer:
    text: str
    tokens: int
    prefix: str | None  # the worker's extra.prefix: taken | ignored | None
    t_request: float  # worker monotonic (system-wide on Linux: the parent's clock too)
    t_first: float | None
    t_end: float


class StreamWorker:
    def __init__(
        self,
        config: protocol.WorkerConfig,
        log: Path,
        env: dict[str, str],
        sample_hz: float,
        timeout_s: float,
        max_rss_mb=None,
    ):
        self.config = dataclasses.replace(config, serve=True)
        self.log, self.env, self.timeout_s = log, env, timeout_s
        # the plan's memory guard: over the limit (RSS + swap, confirmed by PSS + swap) the
        # worker's process group is killed and the stream stops with the guard's message
        self.guard = PoolGuard(max_rss_mb, lambda: [self.proc.pid] if self.proc else []) if max_rss_mb else None
        self.sampler = Sampler(hz=sample_hz, on_sample=self.guard.hook("stream") if self.guard else None)
        self.proc: WorkerProcess | None = None
        self.engine_info: dict | None = None
        self.load_s: float | None = None

    def start(self, start_timeout_s: float = 600.0) -> None:
        proc = self.proc = WorkerProcess("stream", self.config, self.log, env=self.env)
        self.sampler.watch(proc.pid)
        t0, deadline = time.monotonic(), time.monotonic() + start_timeout_s
        while True:
            ev = self._next(deadline, "starting")
            if isinstance(ev, protocol.Ready):
                self.engine_info = ev.engine
            elif isinstance(ev, protocol.Phase):
                self.sampler.mark()
                proc.ack()
                if ev.name == "after_load":
                    self.load_s = time.monotonic() - t0
                    return
            elif isinstance(ev, protocol.Error):
                raise StreamWorkerError(f"the worker did not start: {ev.kind}: {ev.message} (log: {self.log})")

    def _next(self, deadline: float, doing: str):
        assert self.proc is not None
        try:
            return self.proc.next_event(deadline)
        except WorkerTimeout:
            raise StreamWorkerError(f"the worker gave no answer in {self.timeout_s:g} s while {doing}") from None
        except WorkerExited:
            if self.guard and self.guard.tripped_mb is not None:
                raise StreamWorkerError(self.guard.message()) from None
            raise StreamWorkerError(
                f"the worker exited while {doing}: {self.proc.exit_description()[1]} (log: {self.log})"
            ) from None

    def ask(self, i: int, audio: str, prefix: str | None, offset_s: float | None = None) -> Answer:
        """One request: its audio file (starting `offset_s` into the stream) and start of
        the answer; the answer when it is done."""
        assert self.proc is not None
        self.proc.send_request(protocol.ServeRequest(i=i, audio=audio, prefix=prefix, offset_s=offset_s))
        deadline = time.monotonic() + self.timeout_s
        error = None
        while True:
            ev = self._next(deadline, f"answering update {i}" + (f" ({error})" if error else ""))
            if isinstance(ev, protocol.IterationDone):
                got = ev.extra.get("prefix")
                return Answer(
                    ev.text, ev.tokens, got if isinstance(got, str) else None, ev.t_request, ev.t_first, ev.t_end
                )
            if isinstance(ev, protocol.Error):
                error = f"{ev.kind}: {ev.message}"
            elif isinstance(ev, protocol.Phase):
                self.proc.ack()

    def stop(self) -> list[str]:
        """End of input: the worker unloads and exits; what went wrong at exit, as notes."""
        notes: list[str] = []
        proc, self.proc = self.proc, None
        if proc is None:
            return notes
        proc.end_input()
        try:
            deadline = time.monotonic() + 10.0
            while not isinstance(ev := proc.next_event(deadline), protocol.Done):
                pass
            notes += list(ev.notes)
        except (WorkerTimeout, WorkerExited, protocol.ProtocolError) as exc:
            notes.append(f"the worker did not end cleanly ({type(exc).__name__}); killed")
        self.sampler.stop()
        proc.__exit__(None, None, None)
        return notes

    def kill(self) -> None:
        """Ctrl-C or an error: stop sampling and kill the worker's process group."""
        proc, self.proc = self.proc, None
        self.sampler.stop()
        if proc is not None:
            proc.__exit__(None, None, None)
