"""How `orch transcribe` shows its work: each file's text on stdout as it streams (every
chunk written and flushed the moment it arrives), then the zh-TW + ITN line for Chinese and
a line of figures; a progress bar over several files on stderr when stderr is a terminal;
a summary line at the end."""

from __future__ import annotations

import os
from typing import TextIO

from orchestrator import stop_signals
from orchestrator.quality.pipeline import is_chinese
from orchestrator.results.transcript import FileTranscript, TranscribeSummary

ASR_TEXT = "<asr_text>"  # Qwen3-ASR frames its answer `language X<asr_text>...`
_FRAME_HEAD = "language "
_FRAME_MAX = 64  # a framing head is short; text this long without <asr_text> is no framing


class StreamedText:
    """The chunks as they arrive, with Qwen3-ASR's framing (`language Chinese<asr_text>`)
    held back until it is known to be framing or not, so only the transcript is shown."""

    def __init__(self) -> None:
        self._held = ""
        self._decided = False

    def feed(self, chunk: str) -> str:
        if self._decided:
            return chunk
        self._held += chunk
        head = self._held.lstrip()
        if ASR_TEXT in self._held:
            self._decided = True
            return self._held.split(ASR_TEXT, 1)[1].lstrip()
        maybe_frame = (
            (_FRAME_HEAD.startswith(head) or head.startswith(_FRAME_HEAD))
            and len(head) < _FRAME_MAX
            and "\n" not in head
        )
        if maybe_frame:
            return ""
        self._decided = True
        shown, self._held = self._held, ""
        return shown

    def rest(self) -> str:
        """What is still held at the end (it was no framing after all)."""
        rest, self._held = ("" if self._decided else self._held), ""
        self._decided = True
        return rest


class ProgressBar:
    """`[#######.......] 2/5 files` on stderr, redrawn in place; shown only on a terminal."""

    WIDTH = 24

    def __init__(self, stream: TextIO, total: int, enabled: bool):
        self.stream = stream
        self.total = total
        self.enabled = enabled
        self.shown = False

    def draw(self, done: int, audio_s: float) -> None:
        if not self.enabled:
            return
        filled = round(self.WIDTH * done / self.total) if self.total else self.WIDTH
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r\033[K[{bar}] {done}/{self.total} files, {audio_s:.1f} s of audio")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


def figures(rec: FileTranscript) -> str:
    """`TTFT 52 ms · RTF 0.031 · CER 0.125 (against X.txt) · SRT X.srt`."""
    parts = []
    if rec.ttft_ms is not None:
        parts.append(f"TTFT {rec.ttft_ms:.0f} ms")
    if rec.rtf is not None:
        parts.append(f"RTF {rec.rtf:.3f}")
    elif rec.latency_ms is not None:
        parts.append(f"latency {rec.latency_ms:.0f} ms")
    if rec.load_ms is not None:
        parts.append(f"model load {rec.load_ms:.0f} ms")
    scores = [f"{name} {value:.3f}" for name, value in (("CER", rec.cer), ("WER", rec.wer)) if value is not None]
    if scores:
        parts.append(" ".join(scores) + f" (against {os.path.basename(rec.reference or '')})")
    if rec.srt:
        parts.append(f"SRT {rec.srt}")
        if rec.alignment_violations:
            parts.append(f"{rec.alignment_violations} word-timing violations")
    return " · ".join(parts)


def summary_line(summary: TranscribeSummary) -> str:
    done = len(summary.records)
    text = f"{done} file{'s' if done != 1 else ''}, {summary.audio_s:.1f} s of audio in {summary.latency_s:.1f} s"
    if summary.audio_s and summary.latency_s:
        text += f" (RTF {summary.latency_s / summary.audio_s:.3f})"
    if summary.failed:
        text += f"; {len(summary.failed)} failed: " + ", ".join(os.path.basename(r.file) for r in summary.failed)
    return text


def interrupted_line(summary: TranscribeSummary, where: list[str]) -> str:
    done = [os.path.basename(r.file) for r in summary.records]
    line = f"interrupted ({stop_signals.reason()}): {len(done)} of {summary.total} files done"
    if done:
        line += f" ({', '.join(done)})"
    if where:
        line += f"; their records are in {', '.join(where)}"
    return line


class TerminalView:
    """The listener of orchestrator.run.transcribe: text to `out`, progress and failures to `err`."""

    def __init__(self, out: TextIO, err: TextIO, total: int, progress: bool):
        self.out = out
        self.err = err
        self.total = total
        self.bar = ProgressBar(err, total, progress and total > 1)
        self.done = 0
        self.audio_s = 0.0
        self._header: str | None = None
        self._stream = StreamedText()
        self._streamed = False
        self.bar.draw(0, 0.0)

    def file_started(self, index: int, item) -> None:
        length = f", {item.audio_s:.1f} s" if item.audio_s is not None else ""
        counter = f"[{index}/{self.total}] " if self.total > 1 else ""
        # shown with the first chunk: until then the bar says where the run is (load, TTFT)
        self._header = f"── {counter}{item.path}{length}"
        self._stream = StreamedText()
        self._streamed = False

    def _show_header(self) -> None:
        if self._header is not None:
            self.bar.clear()
            self.out.write(self._header + "\n")
            self._header = None

    def chunk(self, text: str) -> None:
        shown = self._stream.feed(text)
        if shown:
            self._show_header()
            self.out.write(shown)
            self.out.flush()  # the moment it arrives
            self._streamed = True

    def file_done(self, rec: FileTranscript) -> None:
        self._show_header()
        rest = self._stream.rest()
        if rest:
            self.out.write(rest)
            self._streamed = True
        if self._streamed:
            self.out.write("\n")
        self._streamed = False
        if rec.ok and is_chinese(rec.language, rec.text_raw):
            self.out.write(f"zh-TW+ITN: {rec.text}\n")
        line = figures(rec)
        if line:
            self.out.write(line + "\n")
        self.out.flush()
        if not rec.ok:
            self.bar.clear()
            self.err.write(f"orch: {rec.file} failed: {rec.error}\n")
            self.err.flush()
        self.done += 1
        self.audio_s += rec.audio_s or 0.0
        if self.done < self.total:
            self.bar.draw(self.done, self.audio_s)
        else:
            self.bar.clear()

    def finished(self, summary: TranscribeSummary) -> None:
        self.bar.clear()
        self.out.write(summary_line(summary) + "\n")
        self.out.flush()

    def interrupted(self) -> None:
        """Ctrl-C in the middle of a file: end its line, take the bar away."""
        if self._streamed:
            self.out.write("\n")
            self.out.flush()
        self.bar.clear()
