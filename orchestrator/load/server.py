"""A server as the load target (`orch load --url`): the same queue, dispatcher and generator as
the worker pool (load/pool.py), with client slots in place of worker processes.

Each slot is a thread with one keep-alive connection (load/http_target.py): when it is idle
it takes the next request from the one queue, stamps `dispatched` and sends it, so
`--connections N` is how many requests the server has at once and queue wait is the wait for
a free connection (a server that queues inside shows it in TTFT from dispatch instead).

The server's process tree is sampled from outside as a worker's is (orchestrator.run.sampler,
from /proc): `--serve-cmd` starts it in its own process group, waits until it answers HTTP,
and stops the whole group at the end, on an error and on Ctrl-C (SIGTERM, then SIGKILL);
`--pid N` samples a server that is already running and leaves it alone. The pool memory guard
watches the server's tree: over the limit it kills a server orch started; a `--pid` server is
left running, and the run stops sending it requests (they fail as stopped by the guard).
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.load.http_target import RequestFailed, RequestTimedOut, ServerTarget, TranscriptionClient
from orchestrator.load.levels import RequestRecord, itl_ms
from orchestrator.load.pool import EXIT_WAIT_S, Pool, PoolConfig, PoolGuard, StartFailed
from orchestrator.run.sampler import Sample, Sampler

READY_POLL_S = 0.2  # how often a started server is asked whether it answers yet


class ServerProcess:
    """A server orch started: its own process group (session), output to a log file."""

    def __init__(self, argv: tuple[str, ...], log: Path, env: dict[str, str] | None = None):
        self.log = log
        self._log_file = open(log, "wb")  # noqa: SIM115 - closed in stop()
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: Ctrl-C in the terminal does not reach it, stop() does
                env=env,
            )
        except OSError as exc:
            self._log_file.close()
            raise StartFailed(f"--serve-cmd: cannot run {argv[0]}: {exc.strerror or exc}") from None
        self.pid = self.proc.pid

    def wait_ready(self, host: str, port: int, timeout: float) -> None:
        """Until the server answers GET /health with anything but 503 (llama-server answers 503
        "Loading model" there while it loads; a server without the path answers 404, ready);
        StartFailed if it exits or takes too long."""
        deadline = time.monotonic() + timeout
        while True:
            code = self.proc.poll()
            if code is not None:
                raise StartFailed(f"the server exited with code {code} before it answered; log: {self.log}")
            try:
                conn = http.client.HTTPConnection(host, port, timeout=1.0)
                conn.request("GET", "/health")  # llama-server's (503 while loading); any answer elsewhere
                resp = conn.getresponse()
                resp.read()
                conn.close()
                if resp.status != 503:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() >= deadline:
                raise StartFailed(f"the server did not answer on {host}:{port} within {timeout:g} s; log: {self.log}")
            time.sleep(READY_POLL_S)

    def stop(self) -> str | None:
        """Stop the whole group: SIGTERM, then SIGKILL after EXIT_WAIT_S; a note if it had to be killed."""
        note = None
        if self.proc.poll() is None:
            _signal_group(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                note = f"the server did not stop within {EXIT_WAIT_S:g} s of SIGTERM; killed"
        _signal_group(self.pid, signal.SIGKILL)  # whatever of the group is left (children it started)
        self.proc.wait()
        self._log_file.close()
        return note


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class HttpSlot:
    """One client connection taking requests from the pool's queue."""

    def __init__(self, pool: ServerPool, index: int):
        self.pool = pool
        self.name = f"c{index + 1}"
        self.client = TranscriptionClient(pool.target)
        self.completions: list[float] = []
        self.thread = threading.Thread(target=self._serve_loop, name=f"orch-load-{self.name}", daemon=True)
        self.dead: str | None = None
        self.proc = None  # no process of its own: the server's is sampled

    def _serve_loop(self) -> None:
        pool = self.pool
        while (rec := pool.take()) is not None:
            self.serve(rec)
            pool.finished(rec)

    def serve(self, rec: RequestRecord) -> None:
        pool = self.pool
        rec.worker = self.name
        rec.dispatched = time.monotonic()
        if pool.guard and pool.guard.tripped_mb is not None:
            rec.freed = rec.dispatched
            rec.status, rec.error = "failed", "not sent: the memory guard stopped the run"
            return
        audio, filename = pool.audio_bytes(rec.audio)
        if pool.stopping:
            rec.freed, rec.status, rec.error = time.monotonic(), "cancelled", "interrupted"
            return
        try:
            answer = self.client.send(audio, filename, rec.dispatched + pool.cfg.request_timeout)
        except RequestTimedOut:
            rec.status = "timed_out"
            rec.error = f"over the {pool.cfg.request_timeout:g} s request timeout; connection dropped"
        except RequestFailed as exc:
            rec.status, rec.error = "failed", str(exc)
        else:
            rec.freed = answer.t_end
            rec.status = "ok"
            rec.streamed = answer.streamed
            rec.t_request = answer.t_sent
            rec.t_first = answer.chunk_times[0] if answer.chunk_times else answer.t_end
            rec.t_end = answer.t_end
            rec.tokens, rec.text = len(answer.chunk_times), answer.text
            rec.itl_ms = itl_ms(answer.chunk_times)
            self.completions.append(answer.t_end)
            return
        rec.freed = time.monotonic()
        if pool.stopping:
            rec.status, rec.error = "cancelled", "interrupted"


class ServerPool(Pool):
    """The pool with a server as its target (PoolConfig.workers is the connection count)."""

    def __init__(self, cfg: PoolConfig, target: ServerTarget, write: Callable[[RequestRecord], None], audio: list[str]):
        self.target = target
        self.server: ServerProcess | None = None
        # every audio file read before the run: no disk read inside a timed request
        self._audio: dict[str, bytes] = {path: Path(path).read_bytes() for path in audio}
        super().__init__(cfg, write)
        if self.guard is not None:  # the server's tree, not worker slots'
            started = target.serve_cmd is not None
            stopped = "the server killed" if started else "no more requests sent (the server is not orch's to stop)"
            self.guard = PoolGuard(self.guard.limit_mb, self.pids, kill=started, stopped=stopped)
        hook = self.guard.hook("server") if self.guard else None
        self.sampler = Sampler(hz=cfg.sample_hz, full_hz=0, on_sample=hook)

    def _make_slots(self) -> list:
        return [HttpSlot(self, k) for k in range(self.cfg.workers)]

    def _start_target(self) -> None:
        target = self.target
        if target.serve_cmd:
            self.server = ServerProcess(target.serve_cmd, self.cfg.log_dir / "server.log", env=self.cfg.env)
            self.sampler.watch(self.server.pid)  # from its start: the load shows in the samples too
            try:
                self.server.wait_ready(target.host, target.port, target.serve_timeout)
            except StartFailed:
                if self.guard is not None and self.guard.tripped_mb is not None:
                    raise StartFailed(f"{self.guard.message()} before it answered") from None
                raise
            return
        if target.pid is not None:
            if not Path(f"/proc/{target.pid}").exists() and not _pid_alive(target.pid):
                raise StartFailed(f"--pid {target.pid}: no such process")
            self.sampler.watch(target.pid)
        listening_problem(target.host, target.port)  # a running server: seen to listen before any request

    def _stop_target(self) -> None:
        for slot in self.slots:
            slot.client.close()
        self.sampler.stop()
        if self.server is not None:
            code = self.server.proc.poll()
            if code is not None:  # it did not wait for orch to stop it (a crash, the memory guard)
                self.notes.append(f"the server exited with code {code} during the run; log: {self.server.log}")
            note = self.server.stop()
            if note:
                self.notes.append(note)

    def _abort_running(self) -> None:
        for slot in self.slots:
            slot.client.close()  # a read that is waiting ends at once; the slot writes it cancelled

    def pids(self) -> list[int]:
        pid = self.server.pid if self.server is not None else self.target.pid
        return [pid] if pid is not None else []

    def cpu_seconds(self) -> float | None:
        """A server's CPU is not orch's to read here: no CPU cost for a server target."""
        return None

    def memory_series(self) -> list[tuple[str, list[Sample], list[float]]]:
        done = sorted(t for slot in self.slots for t in slot.completions)
        return [("server", self.sampler.samples, done)]

    @property
    def engine_info(self) -> dict | None:
        return {"engine": "server", **self.target.describe(), "server_pid": self.pids()[0] if self.pids() else None}

    def audio_bytes(self, path: str | None) -> tuple[bytes, str]:
        """The audio file's bytes (read once, before the first request that needs it is timed)."""
        if path is None:
            return b"", "empty.wav"
        data = self._audio.get(path)
        if data is None:
            data = self._audio[path] = Path(path).read_bytes()
        return data, Path(path).name


LISTEN_CHECK_S = 5.0  # how long a running server's port may take to accept a connection


def listening_problem(host: str, port: int, timeout: float = LISTEN_CHECK_S) -> None:
    """StartFailed (exit 2, one line) when nothing accepts a connection at host:port: a
    server given by --url alone must be running before the first request is sent."""
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise StartFailed(
            f"nothing answers at {host}:{port} ({why.lower()}): start the server first, or give --serve-cmd"
        ) from None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
