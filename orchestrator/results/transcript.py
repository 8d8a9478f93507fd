"""What `orch transcribe` says of each file (`FileTranscript`, one JSON record per file in
--json/--jsonl) and of the whole run (`TranscribeSummary`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

OK = "ok"
FAILED = "failed"


@dataclass
class FileTranscript:
    """One audio file's transcript and figures. Times are milliseconds on the worker's clock;
    `rtf` is latency / audio length; `load_ms` is set on the file the model was loaded for."""

    index: int  # 1-based, in the order the files were given (a folder's files by name)
    file: str
    status: str  # OK or FAILED
    audio_s: float | None
    language: str | None  # the language the text is shown and scored in (None: by its characters)
    text_raw: str  # the engine's text (framing stripped)
    text: str  # as shown: zh-TW + ITN for Chinese, else text_raw stripped
    ttft_ms: float | None = None
    latency_ms: float | None = None
    rtf: float | None = None
    tokens: int = 0
    load_ms: float | None = None
    reference: str | None = None  # the reference file scored against
    cer: float | None = None
    wer: float | None = None
    srt: str | None = None  # the SRT file written (--srt)
    alignment_violations: int | None = None  # the aligner's word-timing check (results.alignment)
    error: str | None = None

    @property
    def key(self) -> tuple[int, None]:
        """Written exactly once per file (orchestrator.run.record_sink)."""
        return self.index, None

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class TranscribeSummary:
    """The run so far: every file's record, in order; `total` files were asked for."""

    total: int
    records: list[FileTranscript] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> list[FileTranscript]:
        return [r for r in self.records if not r.ok]

    @property
    def audio_s(self) -> float:
        return sum(r.audio_s or 0.0 for r in self.records)

    @property
    def latency_s(self) -> float:
        return sum((r.latency_ms or 0.0) for r in self.records) / 1000
