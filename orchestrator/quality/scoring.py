"""CER / WER with jiwer, after an optional normalization applied to both sides.

Modes (``mode="auto"`` picks one from the reference, or from the hypothesis when the reference
has no letters: empty, or only digits and symbols, as a phone number, which says nothing of
the language):

* ``cer``   — Chinese/Japanese (contains CJK, no Latin words): characters, whitespace dropped.
* ``wer``   — space-separated languages: words.
* ``mixed`` — CJK and Latin words together: ``cer`` over all non-space characters, and a
  mixed error rate (``mixed``) where each CJK character is one token and each run of other
  non-space characters (a Latin word, a number) is one token.

Normalization (``normalize=True``, each step switchable through ``Normalization``):
Unicode NFKC (full-width -> half-width, ``１２Ａ`` -> ``12A``, ``，`` -> ``,``), lower case,
punctuation removed (Unicode category P*, full-width included; ``. : / ,`` between two digits
are kept so that 3.14, 17:16 and 1/3 survive), whitespace collapsed (and dropped entirely in
``cer`` mode, since Chinese has no word spaces). Symbols such as ``%`` and ``~`` are kept.

An empty reference has no error rate in the usual sense; like jiwer 4 we divide by 1, so the
rate is the number of inserted tokens (0.0 when both sides are empty).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from typing import Any

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_CJK_RE = re.compile(f"[{CJK}]")
_LATIN_WORD_RE = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]{2,}")
_MIXED_TOKEN_RE = re.compile(f"[{CJK}]|[^\\s{CJK}]+")
MODES = ("auto", "cer", "wer", "mixed")


def has_cjk(text: str) -> bool:
    return bool(_CJK_RE.search(text or ""))


def detect_mode(text: str) -> str:
    if not has_cjk(text):
        return "wer"
    return "mixed" if _LATIN_WORD_RE.search(text) else "cer"


def has_letters(text: str) -> bool:
    """Whether the text has any letter (CJK characters count): digits and symbols alone do not."""
    return any(ch.isalpha() for ch in text or "")


@dataclass(frozen=True)
class Normalization:
    width: bool = True  # NFKC: full-width letters/digits/punctuation -> half-width
    case: bool = True  # lower case
    punctuation: bool = True  # drop punctuation (full-width too), keep . : / , between digits
    whitespace: bool = True  # collapse runs of whitespace (cer mode: remove all)


def _strip_punctuation(text: str) -> str:
    out = []
    for i, ch in enumerate(text):
        if unicodedata.category(ch).startswith("P"):
            if ch in ".:/," and 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit():
                out.append(ch)
            else:
                out.append(" ")
            continue
        out.append(ch)
    return "".join(out)


def normalize_text(text: str, mode: str = "wer", opts: Normalization = Normalization()) -> str:
    """The normalization applied to reference and hypothesis alike before scoring."""
    text = text or ""
    if opts.width:
        text = unicodedata.normalize("NFKC", text)
    if opts.case:
        text = text.lower()
    if opts.punctuation:
        text = _strip_punctuation(text)
    if opts.whitespace:
        text = "".join(text.split()) if mode == "cer" else " ".join(text.split())
    return text


def tokens(text: str, mode: str) -> list[str]:
    """The units an error rate counts: characters (cer), words (wer), CJK chars + words (mixed)."""
    if mode == "cer":
        return list(text)
    if mode == "wer":
        return text.split()
    return _MIXED_TOKEN_RE.findall(text)


@dataclass
class Score:
    mode: str
    rate: float  # the headline number: cer, wer or the mixed rate
    cer: float | None = None
    wer: float | None = None
    mixed: float | None = None
    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_tokens: int = 0
    hypothesis_tokens: int = 0
    alignment: list[dict] = field(default_factory=list)  # [{op, ref, hyp}], op != equal

    def as_dict(self) -> dict:
        return asdict(self)


def _align(ref_tokens: list[str], hyp_tokens: list[str], joiner: str, chars: bool = False):
    """(rate, hits, S, D, I, alignment) from jiwer: ``process_characters`` on the joined
    strings when ``chars`` (spaces count, as in jiwer.cer), else ``process_words`` on the
    tokens joined by spaces (tokens never contain spaces, so they survive intact)."""
    import jiwer  # lazy: seconds to load; `orch run --help` imports this module (run.plan_inputs)

    if not ref_tokens:
        rows = [{"op": "insert", "ref": "", "hyp": joiner.join(hyp_tokens)}] if hyp_tokens else []
        return float(len(hyp_tokens)), 0, 0, 0, len(hyp_tokens), rows
    out: Any
    if chars:
        out = jiwer.process_characters("".join(ref_tokens), "".join(hyp_tokens))
        rate = out.cer
    else:
        out = jiwer.process_words(" ".join(ref_tokens), " ".join(hyp_tokens))
        rate = out.wer
    rows = []
    ref, hyp = out.references[0], out.hypotheses[0]
    for chunk in out.alignments[0]:
        if chunk.type == "equal":
            continue
        rows.append(
            {
                "op": {"substitute": "substitute", "delete": "delete", "insert": "insert"}[chunk.type],
                "ref": joiner.join(ref[chunk.ref_start_idx : chunk.ref_end_idx]),
                "hyp": joiner.join(hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]),
            }
        )
    return float(rate), out.hits, out.substitutions, out.deletions, out.insertions, rows


def _char_rate(reference: str, hypothesis: str) -> float:
    """jiwer's CER of two already-prepared strings (spaces count, as in jiwer.cer)."""
    import jiwer  # lazy: seconds to load; `orch run --help` imports this module (run.plan_inputs)

    if not reference:
        return float(len(hypothesis))
    return float(jiwer.process_characters(reference, hypothesis).cer)


def score(
    reference: str,
    hypothesis: str,
    *,
    mode: str = "auto",
    normalize: bool = True,
    opts: Normalization = Normalization(),
) -> Score:
    """Score ``hypothesis`` against ``reference``. Without normalization the numbers are
    exactly ``jiwer.cer(reference, hypothesis)`` (cer) / ``jiwer.wer(...)`` (wer)."""
    reference, hypothesis = reference or "", hypothesis or ""
    if mode == "auto":
        mode = detect_mode(reference if has_letters(reference) else hypothesis)
    if mode not in MODES[1:]:
        raise ValueError(f"unknown mode {mode!r}; choose from {', '.join(MODES)}")
    if normalize:
        ref, hyp = normalize_text(reference, mode, opts), normalize_text(hypothesis, mode, opts)
    else:
        ref, hyp = reference, hypothesis
    if mode == "cer":
        ref_t, hyp_t = list(ref), list(hyp)
        rate, hits, s, d, i, rows = _align(ref_t, hyp_t, "", chars=True)
        result = Score(mode, rate, cer=rate)
    elif mode == "wer":
        ref_t, hyp_t = ref.split(), hyp.split()
        rate, hits, s, d, i, rows = _align(ref_t, hyp_t, " ")
        result = Score(mode, rate, wer=rate)
    else:
        ref_t, hyp_t = tokens(ref, "mixed"), tokens(hyp, "mixed")
        rate, hits, s, d, i, rows = _align(ref_t, hyp_t, " ")
        cer = _char_rate("".join(ref.split()), "".join(hyp.split()))
        result = Score(mode, rate, cer=cer, mixed=rate)
    result.hits, result.substitutions, result.deletions, result.insertions = hits, s, d, i
    result.reference_tokens, result.hypothesis_tokens = len(ref_t), len(hyp_t)
    result.alignment = rows
    return result
