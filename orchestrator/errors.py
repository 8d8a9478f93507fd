"""One error type for everything a user can get wrong or the engine can break, each with its
exit code. Commands raise `OrchError`; the command line's top (`orchestrator.cli`) turns it
into one line on stderr and the exit code. No command calls `sys.exit` with a magic number.

Exit codes (README, docs/history.md):
  0  everything ok
  1  a strategy failed (crashed, timed out, error) / a soak found a regression
  2  could not start: bad option, bad config, missing or unreadable input
  130 Ctrl-C (what was measured is written first)
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CANNOT_START = 2
EXIT_INTERRUPTED = 130


class OrchError(Exception):
    """A problem to tell the user in one line (or a short list), then exit with `exit_code`."""

    exit_code = EXIT_CANNOT_START

    def __init__(self, message: str, exit_code: int | None = None):
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
        super().__init__(text, EXIT_CANNOT_START)


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
