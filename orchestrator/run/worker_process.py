"""Starting one worker process and reading its events.

The worker is a fresh interpreter (`python -m workers.main`), not a fork: a forked child
would share the parent's pages and its RSS would say as much about the parent as about the
engine. It runs in its own session, so a Ctrl-C at the terminal reaches only the parent,
and killing its process group also ends the engine programs it started. Its environment is
exactly the one it is given (orchestrator.run.worker_env: an allow list, not orch's own).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

from workers import protocol

from orchestrator.run import crash_cause, worker_env


class WorkerTimeout(Exception):
    pass


class WorkerExited(Exception):
    """The event pipe closed: the worker is gone (see WorkerProcess.exit_description)."""


class WorkerProcess:
    def __init__(
        self,
        name: str,
        config: protocol.WorkerConfig,
        log_path: Path,
        env: dict[str, str] | None = None,
        wrap: list[str] | None = None,
    ):
        """`env`: the worker's whole environment (default: worker_env.build(), the allow
        list alone). `wrap`: interpreter arguments before `-m workers.main` (a tracer that
        runs the module in the same process, e.g. `-m memray run --native -o FILE`:
        orchestrator.studies.attribution)."""
        self.name = name
        ev_r, ev_w = os.pipe()
        ack_r, ack_w = os.pipe()
        child_env = dict(worker_env.build().environ if env is None else env)
        self._log = open(log_path, "ab")
        self.started = time.monotonic()
        self.oom_kills_at_start = crash_cause.oom_kill_count()  # evidence for a later SIGKILL
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *(wrap or []),
                "-m",
                "workers.main",
                "--event-fd",
                str(ev_w),
                "--ack-fd",
                str(ack_r),
                "--config",
                config.to_json(),
            ],
            pass_fds=(ev_w, ack_r),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=child_env,
        )
        os.close(ev_w)
        os.close(ack_r)
        self._events = ev_r
        self._acks = ack_w
        self._buf = b""
        self.pid = self.proc.pid
        self.log_path = log_path

    def next_event(self, deadline: float | None) -> protocol.Event:
        """The next event, or WorkerTimeout at `deadline` (parent monotonic), or WorkerExited."""
        while b"\n" not in self._buf:
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._events], [], [], timeout)
            if not ready:
                raise WorkerTimeout(self.name)
            data = os.read(self._events, 65536)
            if not data:
                if self._buf.strip():
                    raise protocol.ProtocolError(f"worker {self.name}: event cut short: {self._buf[:200]!r}")
                raise WorkerExited(self.name)
            self._buf += data
        line, self._buf = self._buf.split(b"\n", 1)
        return protocol.decode(line, self.name)

    def ack(self) -> None:
        try:
            os.write(self._acks, protocol.ACK)
        except BrokenPipeError:
            pass  # the worker died while paused; its exit is read next

    def send_request(self, request: protocol.ServeRequest) -> None:
        """Serve mode: one request line (a worker that died meanwhile is read as exited next)."""
        data = protocol.encode(request)
        try:
            while data:
                data = data[os.write(self._acks, data) :]
        except BrokenPipeError:
            pass

    def end_input(self) -> None:
        """Serve mode: no more requests (the worker unloads, sends `done` and exits)."""
        if self._acks >= 0:
            os.close(self._acks)
            self._acks = -1

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *exc) -> None:
        """On every way out (pyperf's popen_killer): the worker's whole process group is
        killed — engine programs and ffmpeg children a crashed worker left behind too."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.close()

    def close(self) -> None:
        for fd in (self._events, self._acks):
            if fd < 0:
                continue
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()

    def exit_description(self) -> tuple[str | None, str]:
        """(signal name or None, human text) for a worker that has exited."""
        code = self.proc.wait()
        if code < 0:
            name = signal.Signals(-code).name
            return name, f"worker killed by {name}"
        return None, f"worker exited with code {code}"

    def oom_evidence(self, last_rss_mb: float | None) -> crash_cause.OomEvidence:
        """What says whether a SIGKILL that orch did not send was the kernel's OOM killer."""
        now = crash_cause.oom_kill_count()
        before = self.oom_kills_at_start
        return crash_cause.OomEvidence(
            dmesg=crash_cause.dmesg_names_oom(self.pid),
            oom_kills=now - before if now is not None and before is not None else None,
            last_rss_mb=last_rss_mb,
            limit_mb=crash_cause.memory_limit_mb(),
        )

    def log_tail(self, chars: int = 1500) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - chars))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""
