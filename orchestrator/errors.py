"""One error type for everything a user can get wrong or the engine can break, and the one
table of exit codes (`ExitCode`) every command exits with. A command raises `OrchError` (or
`CannotStart`); the command line's top (`orchestrator.cli`) turns it into one line on stderr
and its exit code. A command that finishes exits with an `ExitCode` member through click's
context (`ctx.exit(ExitCode.FAILED)`), never with a bare number. The table is
docs/exit-codes.md's, kept equal by tests/unit/test_exit_code_table.py.
"""

from __future__ import annotations

import enum
from pathlib import Path


class ExitCode(enum.IntEnum):
    """What `orch <command>` exits with; the same number means the same thing in every command."""

    OK = 0
    """everything ok (a strategy skipped as not applicable is ok)"""
    FAILED = 1
    """something ran and failed: a strategy crashed, timed out, errred or hit the memory limit (run, compare, ab, soak, attribute, retention, reproduce); a selftest check missed; doctor found something a run needs missing; a bug in orch (`orch: internal error`)"""
    CANNOT_START = 2
    """could not start, nothing ran: a bad option, config or input, a history database that cannot be used, another soak of the same config still running"""
    REGRESSED = 3
    """it ran and a figure got worse: `soak` found a regression or a new change point, `ab` a regression of B against A"""
    HANGUP = 129
    """SIGHUP, a closed terminal or ssh session: stopped as on Ctrl-C (what was measured is written and stored first)"""
    INTERRUPTED = 130
    """Ctrl-C (what was measured is written first)"""
    TERMINATED = 143
    """SIGTERM (timeout, systemd stop, Kubernetes, kill): stopped as on Ctrl-C (what was measured is written and stored first)"""


class OrchError(Exception):
    """A problem to tell the user in one line (or a short list), then exit with `exit_code`."""

    exit_code: ExitCode = ExitCode.CANNOT_START

    def __init__(self, message: str, exit_code: ExitCode | None = None):
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class CannotStart(OrchError):
    """Bad input found before any worker started; `problems` lists every one at once."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            text = f"cannot start: {self.problems[0]}"
        else:
            text = "cannot start:\n  " + "\n  ".join(self.problems)
        super().__init__(text, ExitCode.CANNOT_START)


class WriteFailed(OrchError):
    """A result file could not be written (a full disk, a read-only or vanished folder): one
    line naming the file and why, exit 1 (`what_was_kept` adds what is safe elsewhere)."""

    def __init__(self, path: str | Path, exc: OSError):
        self.path = Path(path)
        self.reason = exc.strerror or str(exc)
        super().__init__(f"cannot write {self.path}: {self.reason}", ExitCode.FAILED)

    def what_was_kept(self, kept: list[str]) -> str:
        """The one line: the file, why, and what was kept (each a short phrase)."""
        return self.message + (f"; kept: {'; '.join(kept)}" if kept else "; nothing was kept")


def read_text_file(path: str | Path, what: str = "file") -> str:
    """A UTF-8 text file's contents, or OrchError naming the file and, for bytes that are not
    UTF-8, the byte offset of the first one (no traceback, no silent U+FFFD)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise OrchError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return decode_utf8(data, f"{what} {path}")


def decode_utf8(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OrchError(
            f"{name} is not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} ({exc.reason})"
        ) from None
