"""Strategies `cli` (run the engine's command-line program once per request) and
`cli-interactive` (one long-lived program fed one request per iteration on stdin). Named
engine_program, not cli, so it is not mistaken for orch's own command line (orchestrator/cli.py).

Chunks are stamped the moment a read() returns them; the program's stdout is read
unbuffered, so a program that writes token by token is seen token by token and one that
writes in a burst is seen as a burst (the parent reports the spread of the stamps).

The request is stamped when the program says it is ready (its ready line on stderr, or its
interactive prompt); a program that gives no such mark is stamped at spawn, and then the
iteration's TTFT includes process start and model load (`extra.ttft_includes_load`).

TTFT by phase: an engine that can tell (chatllm: the ffmpeg stamps, workers/engines/chatllm.py)
gives `extra.ttft_phases` through `program_started` / `program_ttft_phases`, and the pipe its
stamps come through as `program_pass_fds` (Popen closes every other descriptor).

Memory of a one-shot program: the kernel's peak RSS for it (wait4's ru_maxrss), reported in
`extra.engine_maxrss_mb`; the parent's sampler also sees it while it runs.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable
from typing import IO

from workers import protocol
from workers.engines.base import CliInvocation, EngineError, Request
from workers.loop import Session

EXIT_GRACE_S = 5.0  # how long an interactive program may take to leave once its input closes
PROMPT_LOOP = 100  # prompts printed after end of input that show it never will


class EngineCrashed(Exception):
    def __init__(self, message: str, signal_name: str | None):
        super().__init__(message)
        self.signal_name = signal_name


def _signal_name(status: int) -> str | None:
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return None


class _Streams:
    """select() over a program's stdout and stderr, stamping stdout chunks."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        assert proc.stdout is not None and proc.stderr is not None  # started with PIPE for both
        self.open = {proc.stdout.fileno(): "out", proc.stderr.fileno(): "err"}
        self.err = b""

    def read(self, timeout=None):
        """Yield ('out'|'err', bytes, t) until both streams close, or, with a timeout,
        until nothing arrives for that long."""
        while self.open:
            ready, _, _ = select.select(list(self.open), [], [], timeout)
            if not ready:
                return
            for fd in ready:
                data = os.read(fd, 65536)
                t = time.monotonic()
                if not data:
                    del self.open[fd]
                    continue
                if self.open[fd] == "err":
                    self.err = (self.err + data)[-8192:]
                yield self.open[fd], data, t


def _request(s: Session) -> dict:
    cfg = s.config
    return dict(audio=cfg.audio, transcript=cfg.transcript, language=cfg.language)


def _pass_fds(s: Session) -> tuple[int, ...]:
    """Descriptors the engine wants its program to inherit (chatllm: its decode stamps' pipe)."""
    return tuple(getattr(s.engine, "program_pass_fds", ()) or ())


def _program_started(s: Session) -> None:
    """The engine's hook before the program gets its request (drops earlier stamps)."""
    hook = getattr(s.engine, "program_started", None)
    if hook:
        hook()


def _program_phases(s: Session, t_start: float, t_first: float | None, includes_load: bool):
    """The engine's TTFT by phase for the program's last request, when it can tell."""
    phases = getattr(s.engine, "program_ttft_phases", None)
    return phases(t_start, t_first, includes_load) if phases else None


def run(s: Session, first_i: int, iters: int) -> None:
    exits: dict[str, int] = {}  # abnormal exits after a complete result, by how
    runs = 0
    try:
        for i in range(first_i, first_i + iters):
            for model in s.models:
                how = _one_shot(s, i, model)
                runs += 1
                if how:
                    exits[how] = exits.get(how, 0) + 1
    finally:
        for how, n in exits.items():
            s.notes.append(f"the engine program {how} after printing its result, in {n} of {runs} runs")


def _spawn(s: Session, inv: CliInvocation, stdin: int) -> subprocess.Popen:
    """Start the engine's program with unbuffered pipes on its stdout and stderr."""
    return subprocess.Popen(
        inv.argv,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=inv.env,
        pass_fds=_pass_fds(s),
    )


def _one_shot(s: Session, i: int, model: str | None) -> str | None:
    """One run of the program; returns how it ended when that was abnormal after a result."""
    inv = s.engine.cli_invocation(model, Request(i=i, **_request(s)))
    s.ch.phase("before_infer", i, model)
    s.ch.send(protocol.IterationStart(i=i, t=time.monotonic()))
    _program_started(s)
    t_spawn = time.monotonic()
    proc = _spawn(s, inv, stdin=subprocess.DEVNULL)
    streams = _Streams(proc)
    out, first, count, t_request = _relay_output(s, i, inv, streams, t_spawn)
    t_end = time.monotonic()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    raw = out.decode("utf-8", "replace")
    text = s.engine.clean_text(raw)
    sig = _signal_name(status)
    stderr_tail = streams.err.decode("utf-8", "replace")[-600:]
    _raise_if_failed(i, inv, out, count, sig, proc.returncode, stderr_tail)
    s.ch.phase("after_infer", i, model)
    extra = {
        "engine_maxrss_mb": usage.ru_maxrss / 1024,  # KiB on Linux
        "engine_exit": sig or proc.returncode,
        "ttft_includes_load": inv.ready_pattern is None,
        "startup_ms": (t_request - t_spawn) * 1000 if inv.ready_pattern and t_request else None,
        "raw_output": raw[-2000:],
    }
    # the program's TTFT by phase, counted from where the TTFT is (spawn, or the ready line)
    phases = _program_phases(s, t_request or t_spawn, first, includes_load=inv.ready_pattern is None)
    if phases:
        extra["ttft_phases"] = phases
    s.ch.send(
        protocol.IterationDone(
            i=i,
            text=text,
            tokens=count,
            t_request=t_request or t_spawn,
            t_first=first,
            t_end=t_end,
            model=model,
            load_ms=None,
            extra=extra,
        )
    )
    return _abnormal_end(sig, proc.returncode, stderr_tail)


def _relay_output(
    s: Session, i: int, inv: CliInvocation, streams: _Streams, t_spawn: float
) -> tuple[bytearray, float | None, int, float | None]:
    """Send each stdout chunk of a one-shot program as a token until both its streams close;
    returns (stdout, first chunk's time, chunks, request time). The request is stamped at
    the ready line on stderr, or at the first output before one, or at spawn without a
    ready pattern."""
    t_request = None if inv.ready_pattern else t_spawn
    out, first, count = bytearray(), None, 0
    for kind, data, t in streams.read():
        if kind == "err":
            if t_request is None and inv.ready_pattern and re.search(inv.ready_pattern, streams.err):
                t_request = t
            continue
        if t_request is None:  # output before the ready line: treat the program as ready
            t_request = t
        out += data
        first = first or t
        count += 1
        s.ch.send(protocol.Token(i=i, text=data.decode("utf-8", "replace"), t=t))
    return out, first, count, t_request


def _raise_if_failed(
    i: int, inv: CliInvocation, out: bytearray, count: int, sig: str | None, returncode: int, stderr_tail: str
) -> None:
    """EngineCrashed when a signal killed the program before its answer was finished;
    EngineError when it exited nonzero having printed nothing."""
    # judged on the bytes, not the cleaned text: an empty answer is still a finished one
    finished = bool(out) and (inv.done_pattern is None or re.search(inv.done_pattern, bytes(out)) is not None)
    if sig and not finished:
        where = f"in the middle of its answer ({count} chunks)" if out else "before any output"
        raise EngineCrashed(
            f"engine program killed by {sig} at iteration {i} {where}; stderr: {stderr_tail.strip()}", sig
        )
    if not out:
        if returncode != 0:
            raise EngineError(
                "engine_failed",
                f"engine program exited with code {returncode} "
                f"at iteration {i} and printed nothing; stderr: {stderr_tail.strip()}",
            )


def _abnormal_end(sig: str | None, returncode: int, stderr_tail: str) -> str | None:
    """How a program that gave its result ended, when that was abnormal (a signal, a nonzero
    exit code); None for a clean exit."""
    if sig:
        last = stderr_tail.strip().splitlines()[-1:] or [""]
        return f"was killed by {sig}" + (f" ({last[0][:120]})" if last[0] else "")
    if returncode != 0:
        return f"exited with code {returncode}"
    return None


class _PromptReader:
    """An interactive program's stdout, read up to each prompt it prints. What follows a
    prompt (or may be the start of one split over reads) is kept for the next read."""

    def __init__(self, streams: _Streams, prompt: bytes):
        self.streams = streams
        self.prompt = prompt
        self.pending = bytearray()

    def until_prompt(self, i: int, on_chunk: Callable[[bytes, float], None] | None = None) -> None:
        """Read until the program prints its prompt; pass what came before it to on_chunk."""
        prompt = self.prompt
        keep = len(prompt) - 1  # a tail that may be the start of a prompt split over reads
        for kind, data, t in self.streams.read():
            if kind == "err":
                continue
            self.pending += data
            at = self.pending.find(prompt)
            if at >= 0:
                head, self.pending = bytes(self.pending[:at]), self.pending[at + len(prompt) :]
                if on_chunk and head:
                    on_chunk(head, t)
                return
            emit = bytes(self.pending[: len(self.pending) - keep]) if len(self.pending) > keep else b""
            if on_chunk and emit:
                on_chunk(emit, t)
            self.pending = self.pending[len(emit) :]
        status = self.streams.proc.wait()
        raise EngineCrashed(
            f"interactive engine program ended (status {status}) at iteration {i}; "
            f"stderr: {self.streams.err.decode('utf-8', 'replace')[-600:].strip()}",
            signal.Signals(-status).name if status < 0 else None,
        )


def run_interactive(s: Session, first_i: int, iters: int) -> None:
    model = s.models[0]
    inv = s.engine.cli_invocation(model, Request(i=first_i, **_request(s)), interactive=True)
    if not inv.prompt:
        raise EngineError("unsupported", f"engine {s.engine.name} has no interactive mode")
    s.ch.phase("before_load", first_i, model)
    t0 = time.monotonic()
    proc = _spawn(s, inv, stdin=subprocess.PIPE)
    streams = _Streams(proc)
    reader = _PromptReader(streams, inv.prompt)
    reader.until_prompt(first_i)
    s.load_ms = (time.monotonic() - t0) * 1000
    s.ch.phase("after_load", first_i, model)
    stdin = proc.stdin
    assert stdin is not None  # started with PIPE
    for i in range(first_i, first_i + iters):
        _interactive_request(s, i, model, stdin, reader)
    stdin.close()
    _end_interactive(s, proc, streams, inv.prompt)
    s.ch.phase("after_unload", first_i + iters - 1, model)


def _interactive_request(s: Session, i: int, model: str | None, stdin: IO[bytes], reader: _PromptReader) -> None:
    """One iteration of the long-lived program: the audio path on its stdin, the answer up
    to its next prompt, sent as tokens and then as the iteration's result."""
    chunks: list[tuple[bytes, float]] = []
    s.ch.phase("before_infer", i, model)
    s.ch.send(protocol.IterationStart(i=i, t=time.monotonic()))
    _program_started(s)
    t_request = time.monotonic()
    stdin.write((s.config.audio or "calibration.wav").encode() + b"\n")
    stdin.flush()

    def on_chunk(data: bytes, t: float) -> None:
        chunks.append((data, t))
        s.ch.send(protocol.Token(i=i, text=data.decode("utf-8", "replace"), t=t))

    reader.until_prompt(i, on_chunk)
    t_end = time.monotonic()
    text = s.engine.clean_text(b"".join(d for d, _ in chunks).decode("utf-8", "replace"))
    s.ch.phase("after_infer", i, model)
    phases = _program_phases(s, t_request, chunks[0][1] if chunks else None, includes_load=False)
    s.ch.send(
        protocol.IterationDone(
            i=i,
            text=text,
            tokens=len(chunks),
            t_request=t_request,
            t_first=chunks[0][1] if chunks else None,
            t_end=t_end,
            model=model,
            load_ms=s.load_ms,
            extra={"ttft_phases": phases} if phases else {},
        )
    )
    s.load_ms = None


def _end_interactive(s: Session, proc: subprocess.Popen, streams: _Streams, prompt: bytes) -> None:
    """Give the program EXIT_GRACE_S to leave on end of input, reading what it prints (a
    full pipe would block it); one that stays is killed, and that is reported, not hidden:
    chatllm.cpp's `main -i` does not leave on EOF, it prints its prompt again and again:
    PROMPT_LOOP prompts with no input to answer settle that without waiting the grace out."""
    t0 = time.monotonic()
    prompts = 0
    while proc.poll() is None and time.monotonic() - t0 < EXIT_GRACE_S and prompts < PROMPT_LOOP:
        for kind, data, _ in streams.read(timeout=0.1):
            prompts += data.count(prompt) if kind == "out" else 0
            if prompts >= PROMPT_LOOP or time.monotonic() - t0 >= EXIT_GRACE_S:
                break
    if proc.poll() is None:
        proc.kill()
        proc.wait()
        why = (
            f"printed its prompt {prompts} times in {(time.monotonic() - t0) * 1000:.0f} ms with no input"
            if prompts >= PROMPT_LOOP
            else f"did not exit within {EXIT_GRACE_S:g} s"
        )
        s.notes.append(f"the engine program did not leave when its input closed ({why}); killed")
    elif proc.returncode != 0:
        s.notes.append(f"the engine program exited with status {proc.returncode} when its input closed")
