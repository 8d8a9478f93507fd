"""What the harness calls for each transcript: zh-TW + ITN for Chinese, then CER/WER.

One language and metric rule for every command, per file (docs/quality.md, "Language and
metric"): `file_language` is the language a file is asked and shown in (--language, else
guessed from that file's own reference and name); `metric` is how it is scored, decided by
the reference text and that language, never by what an engine answered.

Keep these two signatures: ``orchestrator.run.runner`` calls ``process_transcript``, and
``RunPlan.reference_file`` / ``transcript_file`` apply ``find_reference``'s rule.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from orchestrator.quality import itn as itn_mod
from orchestrator.quality import scoring, zh_tw

CHINESE_NAMES = {"zh", "chinese", "mandarin", "cmn", "cantonese", "yue", "zho", "chi"}


def is_chinese(language: str | None, text: str) -> bool:
    """Language given: zh, zh-CN, zh-TW, Chinese, Cantonese, ... ; None: the text has CJK."""
    if language is None or not language.strip():
        return scoring.has_cjk(text)
    lang = language.strip().lower().replace("_", "-")
    return lang.split("-")[0] in CHINESE_NAMES


def to_display(text: str, chinese: bool) -> str:
    """The text as orch shows and scores it: Traditional (Taiwan) with digits for Chinese."""
    text = (text or "").strip()
    return itn_mod.itn(zh_tw.to_zh_tw(text)) if chinese and text else text


def file_language(given: str | None, audio: str | None, reference: str | None) -> tuple[str, str]:
    """(language, why) of one audio file: `given` (--language), else Chinese when the file's
    reference transcript (`reference`, a path; else X.txt beside X.wav) has CJK characters or
    its name says zh/cn/chinese..., else English. Decided per file, never from another file."""
    if given and given.strip():
        return given, "--language"
    ref = reference or (os.path.splitext(audio)[0] + ".txt" if audio else None)
    try:
        text = open(ref, encoding="utf-8").read() if ref else ""
    except (OSError, ValueError):  # preflight names it (UnicodeDecodeError is a ValueError)
        text = ""
    if scoring.has_cjk(text):
        return "Chinese", f"the reference {ref} is Chinese"
    stem = os.path.splitext(os.path.basename(audio or ""))[0].lower()
    if set(re.split(r"[^a-z]+", stem)) & (CHINESE_NAMES | {"cn"}):
        return "Chinese", f"the audio file's name ({stem})"
    return "English", "no sign of Chinese in the reference or the file name"


def metric(chinese: bool, reference: str) -> str:
    """The scoring mode for a reference already through `to_display`: Chinese per character
    ("mixed" with Latin words), else what the reference's own characters say; a reference
    with no letters (digits only) is per character in Chinese, per word otherwise."""
    if chinese:
        return "mixed" if scoring.detect_mode(reference) == "mixed" else "cer"
    return scoring.detect_mode(reference) if scoring.has_letters(reference) else "wer"


def _warm_up() -> None:
    zh_tw.to_zh_tw("软件")
    itn_mod.itn("一万三千")


def process_transcript(text_raw: str, language: str | None, reference: str | None, *, normalize: bool = True) -> dict:
    """``{"text_raw", "text", "cer", "wer"}``. ``text`` is zh-TW + ITN when the language is
    Chinese (None: detected from CJK characters in the reference, else in the text), else
    the raw text stripped.
    The reference goes through the same conversion before scoring. cer/wer are None without
    a reference; Chinese gives cer, space-separated languages give wer, Chinese with Latin
    words gives both (wer then counts each CJK character and each Latin word as one token)."""
    text_raw = text_raw or ""
    if not text_raw.strip():
        _warm_up()  # the harness calls this once with "" before it measures anything
    # without a language, a reference with letters decides (the same reference, the same
    # metric on every engine); the answer's own characters only when it says nothing (digits)
    basis = reference if reference and scoring.has_letters(reference) else text_raw
    chinese = is_chinese(language, basis)
    text = to_display(text_raw, chinese)
    out: dict[str, Any] = {"text_raw": text_raw, "text": text, "cer": None, "wer": None}
    if reference is None:
        return out
    ref = to_display(reference, chinese)
    result = scoring.score(ref, text, mode=metric(chinese, ref), normalize=normalize)
    if result.mode == "cer":
        out["cer"] = result.cer
    elif result.mode == "wer":
        out["wer"] = result.wer
    else:
        out["cer"], out["wer"] = result.cer, result.mixed
    return out


def find_reference(audio_path: str, reference_path: str | None) -> str | None:
    """The path of the reference transcript: ``reference_path`` when given, else the sidecar
    ``X.txt`` next to ``X.wav`` when it exists, else None. (The caller reads the file.)"""
    if reference_path:
        return str(reference_path)
    if not audio_path:
        return None
    try:
        sidecar = Path(audio_path).with_suffix(".txt")
    except ValueError:  # a name with no stem ("/"): no sidecar; preflight names the audio
        return None
    return str(sidecar) if sidecar.is_file() else None
