"""SIGTERM and SIGHUP stop a command as Ctrl-C (SIGINT) does: `timeout`, systemd, Kubernetes
and cron stop a job with SIGTERM, a closed ssh session sends SIGHUP. While a command runs
(`handled()`, entered by the command line's top) their handler raises `Stopped`, a
KeyboardInterrupt, so every place that keeps what was measured on Ctrl-C (stop the workers,
write run.json / load.json and the JSONL, store the history row) does the same for them. The
command then exits 128 + the signal's number, as a shell reports a process the signal ended:
130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (`exit_code()`, orchestrator.errors.ExitCode).

The first SIGTERM or SIGHUP stops the command; one that comes while it writes what was
measured is ignored (SIGKILL still ends it at once). SIGINT keeps Python's own handler. A
signal ignored when the command starts stays ignored, as `nohup` (SIGHUP) and a shell's
background jobs (SIGINT: Python installs no handler then) mean it: `nohup orch soak ...`
outlives the ssh session that started it."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from orchestrator.errors import ExitCode

# the signals a command stops on as on Ctrl-C, and what each is called in its messages
NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C", signal.SIGTERM: "SIGTERM", signal.SIGHUP: "SIGHUP"}
EXIT_CODES: dict[int, ExitCode] = {
    signal.SIGINT: ExitCode.INTERRUPTED,
    signal.SIGTERM: ExitCode.TERMINATED,
    signal.SIGHUP: ExitCode.HANGUP,
}
_HANDLED = (signal.SIGTERM, signal.SIGHUP)

_received: int | None = None


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived: handled wherever Ctrl-C is."""

    def __init__(self, signum: int):
        super().__init__(NAMES.get(signum, f"signal {signum}"))
        self.signum = signum


def _handler(signum: int, _frame) -> None:
    global _received
    if _received in _HANDLED:  # already stopping: let it write what was measured
        return
    _received = signum
    raise Stopped(signum)


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Stopped inside the block (in the main thread only: Python runs
    signal handlers there); the previous handlers come back after it."""
    global _received
    _received = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    keep = [sig for sig in _HANDLED if signal.getsignal(sig) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, _handler) for sig in keep}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def received() -> int:
    """The signal that stopped the command: SIGTERM or SIGHUP when one came, else SIGINT
    (a KeyboardInterrupt with no signal of ours is Ctrl-C)."""
    return _received if _received is not None else signal.SIGINT


def reason() -> str:
    """How the stop is named in messages: `Ctrl-C`, `SIGTERM` or `SIGHUP`."""
    return NAMES[received()]


def exit_code() -> ExitCode:
    """130 Ctrl-C, 143 SIGTERM, 129 SIGHUP."""
    return EXIT_CODES[received()]
