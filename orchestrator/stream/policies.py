"""The stream policies: what each update asks of the engine (which audio, what start of the
answer) and what it then shows (committed text, and a tentative tail that may still change).

- `redecode` (Qwen3-ASR's own streaming): every chunk, all audio so far; the previous text
  minus its last K tokens as the start of the answer (none for the first 2 chunks). An engine
  that cannot take a start of the answer is answered by LocalAgreement-2 instead: what two
  consecutive hypotheses agree on is committed (ufal/whisper_streaming).
- `window`: the same over the last W seconds, the start of the answer bounded to its last P
  tokens (antirez/qwen-asr --stream); without a start of the answer, LocalAgreement-2 over
  the window's hypotheses, each stitched after the committed text's tail.
- `vad`: segments cut at pauses by a voice-activity detector, each transcribed once and
  committed at once (sherpa-onnx's way).
Tokens are counted as units (orchestrator.stream.units: a word, a CJK character)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from orchestrator.stream import units

NAMES = ("redecode", "window", "vad")
NO_PREFIX_FIRST = 2  # Qwen3-ASR: no start of the answer for the first 2 chunks
START_OF_ANSWER = "start-of-answer"
LOCAL_AGREEMENT = "local-agreement-2"


@dataclass(frozen=True)
class Ask:
    """One update's request: the audio [start_s, end_s) of the stream, the start of the answer."""

    start_s: float
    end_s: float
    prefix: str | None = None
    final: bool = False


@dataclass(frozen=True)
class Reply:
    text: str
    prefix: str | None = None  # the worker's extra.prefix: taken | ignored | None (none sent)


@dataclass(frozen=True)
class Shown:
    committed: str
    tentative: str

    @property
    def text(self) -> str:
        return self.committed + self.tentative


class Redecode:
    """`redecode` (window_s None) and `window` (window_s, max_prefix)."""

    def __init__(self, unfixed: int, window_s: float | None = None, max_prefix: int | None = None):
        self.name = "window" if window_s else "redecode"
        self.unfixed, self.window_s, self.max_prefix = unfixed, window_s, max_prefix
        self.method = START_OF_ANSWER
        self.switched_at: int | None = None  # the update at which the engine refused a start of the answer
        self.n = 0
        self.hyp = ""  # the whole text of the last update
        self.shown = Shown("", "")
        self._base = ""  # the text before the start of the answer sent (window: outside the bound)
        self._new = ""  # LocalAgreement over a window: the last hypothesis's new part

    def describe(self) -> dict:
        out = {"policy": self.name, "method": self.method, "unfixed_tokens": self.unfixed}
        if self.window_s:
            out.update(window_s=self.window_s, max_prefix_tokens=self.max_prefix)
        if self.switched_at is not None:
            out["note"] = (
                f"the engine took no start of the answer (update {self.switched_at}): LocalAgreement-2 over "
                "consecutive hypotheses instead"
            )
        return out

    def asks(self, heard_s: float, final: bool) -> list[Ask]:
        start = max(0.0, heard_s - self.window_s) if self.window_s else 0.0
        prefix = None
        if self.method == START_OF_ANSWER and self.n >= NO_PREFIX_FIRST:
            prefix = self._bounded(units.drop_last(self.hyp, self.unfixed))
        return [Ask(start, heard_s, prefix or None, final)]

    def _bounded(self, full: str) -> str:
        """The start of the answer to send (window: its last max_prefix units); what is left
        of `full` before it goes to self._base."""
        parts = units.split(full)
        keep = parts[-self.max_prefix :] if self.max_prefix and len(parts) > self.max_prefix else parts
        sent_raw = "".join(keep)
        self._base = full[: len(full) - len(sent_raw)] + sent_raw[: len(sent_raw) - len(sent_raw.lstrip())]
        return sent_raw.lstrip()

    def take(self, ask: Ask, reply: Reply) -> Shown:
        self.n += 1
        if reply.prefix == "ignored" and self.method == START_OF_ANSWER:
            self.method, self.switched_at = LOCAL_AGREEMENT, self.n
        if ask.prefix and reply.prefix == "taken":
            self.hyp = self._base + reply.text
            committed = self._base + ask.prefix
        elif self.method == START_OF_ANSWER:  # the first chunks: nothing committed yet
            self.hyp, committed = reply.text, self.shown.committed
        else:
            committed = self._agree(ask, reply.text)
        if ask.final:
            committed = self.hyp
        tail = units.split(self.hyp)[len(units.split(committed)) :]
        self.shown = Shown(committed, "".join(tail) if len(self.hyp) > len(committed) else "")
        return self.shown

    def _agree(self, ask: Ask, text: str) -> str:
        """LocalAgreement-2: commit what this hypothesis and the last agree on (never less)."""
        committed = self.shown.committed
        hyp = join(committed, stitch(committed, text)) if ask.start_s > 0 else text
        previous, self.hyp = self.hyp, hyp
        agreed = units.common_prefix(previous, hyp)
        return agreed if len(agreed) > len(committed) and agreed.startswith(committed.rstrip()) else committed


def join(a: str, b: str) -> str:
    """Two texts one after the other, a space between words (none before a CJK character)."""
    if not a or not b or a[-1].isspace() or b[0].isspace() or _cjk(a[-1]) or _cjk(b[0]):
        return a + b
    return a + " " + b


def _cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff"


def stitch(committed: str, window_text: str, tail_units: int = 30) -> str:
    """The part of a window's hypothesis after the committed text's tail: the window starts
    inside text already committed, so its beginning is found again there (difflib over
    units) and only what follows is new. Nothing found: the whole window text is new."""
    tail = [u.strip() for u in units.split(committed)[-tail_units:]]
    win = units.split(window_text)
    blocks = [
        b
        for b in difflib.SequenceMatcher(None, tail, [u.strip() for u in win], autojunk=False).get_matching_blocks()
        if b.size
    ]
    if not blocks:
        return window_text
    ending = [b for b in blocks if b.a + b.size == len(tail)]
    b = ending[-1] if ending else blocks[-1]
    return "".join(win[b.b + b.size :]).lstrip()


class VadPolicy:
    """`vad`: every segment the segmenter closes is transcribed once and committed."""

    name = "vad"

    def __init__(self, segmenter, samples, rate: int):
        self.segmenter, self.samples, self.rate = segmenter, samples, rate
        self.fed = 0
        self.shown = Shown("", "")

    def describe(self) -> dict:
        return {"policy": "vad", "method": "segments cut at pauses, each transcribed once", **self.segmenter.describe()}

    def asks(self, heard_s: float, final: bool) -> list[Ask]:
        upto = min(len(self.samples), int(round(heard_s * self.rate)))
        spans = self.segmenter.feed(self.samples[self.fed : upto])
        self.fed = upto
        if final:
            spans += self.segmenter.flush()
        return [Ask(a, b, None, final and k == len(spans) - 1) for k, (a, b) in enumerate(spans)]

    def take(self, ask: Ask, reply: Reply) -> Shown:
        self.shown = Shown(join(self.shown.committed, reply.text.strip()), "")
        return self.shown
