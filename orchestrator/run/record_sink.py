"""Appends a strategy's iteration records to `<strategy>.jsonl` exactly once each, whatever
signal lands wherever.

A write is idempotent by the record's key (iteration, model): the sink remembers the file
offset after the last *committed* record, and every write first cuts the file back to that
offset (dropping a line a Ctrl-C left written but not committed), then writes, flushes and
fsyncs, and only then commits — one attribute assignment, which no signal can split. So a
clean-up flush that retries a record interrupted anywhere writes it once, and `close()`
cuts off anything never committed.

A write that fails (ENOSPC on a full disk, EIO) cuts the file back to the last committed
record too, then raises errors.WriteFailed naming the file: the JSONL never ends in a torn
line. The file is unbuffered, so nothing is left in a buffer for close() to fail on.

It takes any record with a `key` and `to_json()`: a run's `IterationRecord`s, `orch
transcribe`'s per-file records (orchestrator.results.transcript).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from orchestrator.errors import WriteFailed


class SinkRecord(Protocol):
    """What the sink writes: a record with a unique key and its JSON form (an iteration's
    IterationRecord; orch load's RequestRecord)."""

    @property
    def key(self) -> Hashable: ...
    def to_json(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=SinkRecord)


class Sink(Generic[R]):
    def __init__(self, path: Path, progress: Callable[[R], None] | None = None):
        self.path = Path(path)
        self.progress = progress
        self.path.touch()
        self._file = open(self.path, "r+b", buffering=0)  # not append mode: a write may cut back first
        self._file.seek(0, os.SEEK_END)
        # (offset after the last committed record, how many records are committed)
        self._committed: tuple[int, int] = (self._file.tell(), 0)
        self._records: list[R] = []
        self._index: dict[Hashable, int] = {}
        self._progressed = 0

    def _step(self, name: str) -> None:
        """A no-op between the steps of a write; tests make it raise to interrupt there."""

    @property
    def records(self) -> list[R]:
        """The committed records, in the order written."""
        return self._records[: self._committed[1]]

    def has(self, rec: R) -> bool:
        k = self._index.get(rec.key)
        return k is not None and k < self._committed[1]

    def write(self, rec: R) -> None:
        """Append `rec` as one whole line (once); WriteFailed, the file cut back to its last
        committed record, when the disk refuses it."""
        if self.has(rec):
            return
        offset, count = self._committed
        del self._records[count:]  # an interrupted write's leftovers
        line = (json.dumps(rec.to_json(), ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self._file.seek(offset)
            self._file.truncate()
            self._step("truncated")
            self._records.append(rec)
            self._index[rec.key] = count
            self._write_all(line)
            self._step("written")
            self._step("flushed")
            os.fsync(self._file.fileno())
            self._step("synced")
        except OSError as exc:
            del self._records[count:]
            self._cut_back()
            raise WriteFailed(self.path, exc) from None
        self._committed = (offset + len(line), count + 1)  # the commit point
        self._step("committed")
        self._report_progress()

    def _report_progress(self) -> None:
        count = self._committed[1]
        while self._progressed < count:
            rec = self._records[self._progressed]
            self._progressed += 1
            if self.progress:
                self.progress(rec)

    def _write_all(self, data: bytes) -> None:
        """os.write may take part of a line (a disk filling up): the rest, or OSError."""
        view = memoryview(data)
        while view:
            n = self._file.write(view)
            if not n:
                raise OSError(28, os.strerror(28))  # ENOSPC: nothing taken
            view = view[n:]

    def _cut_back(self) -> None:
        """The file back to its last committed record (truncating frees space: it works on
        a full disk); best effort, the failure being told is the write's."""
        try:
            self._file.truncate(self._committed[0])
            self._file.seek(self._committed[0])
        except OSError:
            pass

    @property
    def whole_lines(self) -> int:
        """How many records the file holds, each a whole line."""
        return self._committed[1]

    def close(self) -> None:
        """Cut off anything not committed (a write a signal cut short); the file holds whole
        lines only, even when the disk is full."""
        if self._file.closed:
            return
        try:
            self._cut_back()
            os.fsync(self._file.fileno())
        except OSError:
            pass
        finally:
            self._file.close()


# a strategy's iteration records (the sink's first use)
RecordSink = Sink  # the name the run (and orch transcribe) knows it by
