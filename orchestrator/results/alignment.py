"""Forced-alignment results: parse the aligner's output into words with times, check them,
and write SRT.

chatllm.cpp's Qwen3-ForcedAligner with `--set format json` prints a JSON list of
`{"start", "end", "text"}` (seconds). Checks on every result (a random-weight model gives
nonsense times: the checks still run and count, never crash):
- every transcript word appears exactly once, in order (`missing`, `extra`);
- start <= end for every word (`inverted`);
- starts never go back in time (`backwards`);
- times lie within the audio (`out_of_range`, when the audio length is known).
"""

from __future__ import annotations

import json
import re
from collections import Counter

_PUNCT = re.compile(r"[^\w\u4e00-\u9fff]+", re.U)


def words_of(transcript: str) -> list[str]:
    """Latin words by spaces, CJK one character each; punctuation and case dropped."""
    out: list[str] = []
    for token in transcript.split():
        token = _PUNCT.sub("", token).lower()
        if not token:
            continue
        if any("\u4e00" <= ch <= "\u9fff" for ch in token):
            out.extend(ch for ch in token if ch.strip())
        else:
            out.append(token)
    return out


def parse(text: str) -> list[dict]:
    """The word list inside the aligner's output (ValueError if there is none)."""
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end < start:
        raise ValueError("no JSON list in the aligner output")
    data = json.loads(text[start : end + 1])
    words = []
    for item in data:
        if not isinstance(item, dict) or not {"start", "end", "text"} <= set(item):
            raise ValueError(f"unexpected item in the aligner output: {item!r}")
        words.append({"text": str(item["text"]), "start": float(item["start"]), "end": float(item["end"])})
    return words


def check(text: str, transcript: str, audio_s: float | None) -> dict:
    try:
        words = parse(text)
    except ValueError as exc:
        return {"words": [], "violations": 1, "parse_error": str(exc)}
    expected = Counter(words_of(transcript))
    got = Counter(w for item in words for w in words_of(item["text"]))
    counts = {
        "missing": sum((expected - got).values()),
        "extra": sum((got - expected).values()),
        "inverted": sum(1 for w in words if w["start"] > w["end"]),
        "backwards": sum(1 for a, b in zip(words, words[1:], strict=False) if b["start"] < a["start"]),
        "out_of_range": sum(1 for w in words if audio_s is not None and (w["start"] < 0 or w["end"] > audio_s + 0.05)),
    }
    return {"words": words, "violations": sum(counts.values()), **counts}


def _srt_time(t: float) -> str:
    ms = max(0, int(round(t * 1000)))
    return f"{ms // 3600000:02d}:{ms // 60000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def to_srt(words: list[dict]) -> str:
    return "".join(
        f"{n}\n{_srt_time(w['start'])} --> {_srt_time(w['end'])}\n{w['text']}\n\n" for n, w in enumerate(words, 1)
    )
