"""What a person watches: on a terminal the committed text and the tentative tail (dimmed)
rewritten in place after every update, with a status line; for a program, JSONL events
(`--jsonl FILE`), each written once and flushed as its own line, so an interrupted stream
keeps every event it made."""

from __future__ import annotations

import json
import shutil
from typing import IO, Any

DIM, RESET = "\x1b[2m", "\x1b[0m"
MAX_LINES = 8  # the terminal shows the text's last lines only


class Live:
    """The in-place terminal view (only on a terminal)."""

    def __init__(self, out: IO[str]):
        self.out = out
        self.lines = 0  # lines written last time, to go back over

    def show(self, committed: str, tentative: str, status: str) -> None:
        width = max(20, shutil.get_terminal_size((100, 24)).columns)
        text = (committed + tentative)[-(width * MAX_LINES - 1) :]
        cut = len(committed + tentative) - len(text)
        kept_committed = committed[cut:] if cut < len(committed) else ""
        kept_tentative = text[len(kept_committed) :]
        rows = max(1, -(-len(text) // width)) + 1  # text rows and the status row
        back = f"\x1b[{self.lines}F" if self.lines else "\r"
        self.out.write(f"{back}\x1b[J{kept_committed}{DIM}{kept_tentative}{RESET}\n{status[: width - 1]}\n")
        self.out.flush()
        self.lines = rows


class Events:
    """The JSONL event file: one JSON object per line, flushed at once."""

    def __init__(self, path: str | None):
        self.f: IO[str] | None = open(path, "w", encoding="utf-8") if path else None

    def write(self, kind: str, **fields: Any) -> None:
        if self.f is not None:
            self.f.write(json.dumps({"event": kind, **fields}, ensure_ascii=False) + "\n")
            self.f.flush()

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None
