"""The harness entry points: process_transcript and find_reference."""

import pytest
from orchestrator.quality.pipeline import find_reference, is_chinese, process_transcript


def test_seed_case_phone_number():
    out = process_transcript("零九零零零七三三三一", None, "0900073331")
    assert out["text_raw"] == "零九零零零七三三三一"
    assert out["text"] == "0900073331"
    assert out["cer"] == 0.0
    assert out["wer"] is None


def test_one_wrong_digit_is_one_character():
    assert process_transcript("零九零零零七三三三二", "zh", "0900073331")["cer"] == pytest.approx(0.1)


def test_reference_in_simplified_with_numerals_scores_fairly():
    out = process_transcript("这个软件卖一万三千元", "Chinese", "這個軟體賣13000元。")
    assert out["text"] == "這個軟體賣13000元"
    assert out["cer"] == 0.0
    out = process_transcript("這個軟體賣13000元", "zh-TW", "这个软件卖一万三千元")
    assert out["cer"] == 0.0


def test_english_gives_wer_only():
    out = process_transcript("  Hello world ", "English", "hello, world!")
    assert out == {"text_raw": "  Hello world ", "text": "Hello world", "cer": None, "wer": 0.0}


def test_mixed_gives_both():
    out = process_transcript("我用iPhone 四s拍照", None, "我用 iPhone 4s 拍照")
    assert out["text"] == "我用iPhone 4s拍照"
    assert out["cer"] == 0.0 and out["wer"] == 0.0


def test_no_reference_and_empty_text():
    assert process_transcript("", None, None) == {"text_raw": "", "text": "", "cer": None, "wer": None}
    assert process_transcript("", "zh", "你好")["cer"] == 1.0


def test_language_detection():
    assert is_chinese(None, "你好")
    assert not is_chinese(None, "hello")
    assert is_chinese("zh-CN", "") and is_chinese("Cantonese", "") and not is_chinese("en", "你好")


def test_find_reference(tmp_path):
    wav = tmp_path / "clip.wav"
    wav.write_bytes(b"")
    assert find_reference(str(wav), None) is None
    (tmp_path / "clip.txt").write_text("参考", encoding="utf-8")
    assert find_reference(str(wav), None) == str(tmp_path / "clip.txt")
    explicit = tmp_path / "other.txt"
    assert find_reference(str(wav), str(explicit)) == str(explicit)
