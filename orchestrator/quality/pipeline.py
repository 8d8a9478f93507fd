"""What the harness calls for each transcript: zh-TW + ITN for Chinese, then CER/WER.

Keep these two signatures: ``orchestrator.run.runner`` calls ``process_transcript``, and
``RunPlan.reference_file`` / ``transcript_file`` apply ``find_reference``'s rule.
"""

from __future__ import annotations

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


def _warm_up() -> None:
    zh_tw.to_zh_tw("软件")
    itn_mod.itn("一万三千")


def process_transcript(text_raw: str, language: str | None, reference: str | None, *, normalize: bool = True) -> dict:
    """``{"text_raw", "text", "cer", "wer"}``. ``text`` is zh-TW + ITN when the language is
    Chinese (None: detected from CJK characters in the text), else the raw text stripped.
    The reference goes through the same conversion before scoring. cer/wer are None without
    a reference; Chinese gives cer, space-separated languages give wer, Chinese with Latin
    words gives both (wer then counts each CJK character and each Latin word as one token)."""
    text_raw = text_raw or ""
    if not text_raw.strip():
        _warm_up()  # the harness calls this once with "" before it measures anything
    chinese = is_chinese(language, text_raw if text_raw.strip() else (reference or ""))
    text = to_display(text_raw, chinese)
    out: dict[str, Any] = {"text_raw": text_raw, "text": text, "cer": None, "wer": None}
    if reference is None:
        return out
    ref = to_display(reference, chinese)
    result = scoring.score(ref, text, mode=scoring_mode(chinese, ref, text), normalize=normalize)
    if result.mode == "cer":
        out["cer"] = result.cer
    elif result.mode == "wer":
        out["wer"] = result.wer
    else:
        out["cer"], out["wer"] = result.cer, result.mixed
    return out


def scoring_mode(chinese: bool, reference: str, hypothesis: str) -> str:
    """The mode for texts already through `to_display`: Chinese is scored per character even
    when the conversion left only digits (a phone number), "mixed" with Latin words; other
    languages "auto" (scoring picks from the text)."""
    if not chinese:
        return "auto"
    return "mixed" if scoring.detect_mode(reference or hypothesis) == "mixed" else "cer"


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
