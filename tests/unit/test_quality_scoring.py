"""Scoring: `orch score` agrees with jiwer; hand-checked counts; normalization; empty sides."""

import json

import jiwer
import pytest
from click.testing import CliRunner
from orchestrator.commands.quality import score as score_command
from orchestrator.quality.scoring import Normalization, detect_mode, normalize_text, score, tokens


def run_score(tmp_path, ref, hyp, *args):
    (tmp_path / "ref.txt").write_text(ref, encoding="utf-8")
    (tmp_path / "hyp.txt").write_text(hyp, encoding="utf-8")
    result = CliRunner().invoke(
        score_command, ["--reference", str(tmp_path / "ref.txt"), "--hypothesis", str(tmp_path / "hyp.txt"), *args]
    )
    assert result.exit_code == 0, result.output
    return result


# (reference, hypothesis, mode, expected rate by hand, (S, D, I))
HAND = [
    ("你好世界", "你好是", "cer", 2 / 4, (1, 1, 0)),
    ("今天天气很好", "今天天汽很好啊", "cer", 2 / 6, (1, 0, 1)),
    ("the cat sat on the mat", "the cat sit on mat", "wer", 2 / 6, (1, 1, 0)),
    ("hello world", "", "wer", 1.0, (0, 2, 0)),
    ("我们", "", "cer", 1.0, (0, 2, 0)),
]


@pytest.mark.parametrize("ref,hyp,mode,rate,sdi", HAND)
def test_cli_agrees_with_jiwer(tmp_path, ref, hyp, mode, rate, sdi):
    out = json.loads(run_score(tmp_path, ref, hyp, "--no-normalize", "--format", "json").output)
    got = out["score"]
    assert got["mode"] == mode
    jiwer_rate = jiwer.cer(ref, hyp) if mode == "cer" else jiwer.wer(ref, hyp)
    assert got[mode] == pytest.approx(jiwer_rate, abs=1e-6)
    assert got[mode] == pytest.approx(rate, abs=1e-6)
    assert (got["substitutions"], got["deletions"], got["insertions"]) == sdi


def test_mixed_text(tmp_path):
    ref, hyp = "我用 iPhone 拍照", "我用 iPhone 拍了照"
    assert detect_mode(ref) == "mixed"
    assert tokens(ref, "mixed") == ["我", "用", "iPhone", "拍", "照"]
    got = json.loads(run_score(tmp_path, ref, hyp, "--no-normalize", "--format", "json").output)
    assert got["score"]["mixed"] == pytest.approx(1 / 5)
    assert got["score"]["mixed"] == pytest.approx(jiwer.wer("我 用 iPhone 拍 照", "我 用 iPhone 拍 了 照"))
    assert got["score"]["cer"] == pytest.approx(jiwer.cer("我用iPhone拍照", "我用iPhone拍了照"))
    assert got["alignment"] == [{"op": "insert", "ref": "", "hyp": "了"}]


def test_empty_reference_does_not_crash(tmp_path):
    result = run_score(tmp_path, "", "多余的字", "--format", "json")
    got = json.loads(result.stdout)["score"]
    assert got["insertions"] == 4 and got["ref_tokens"] == 0
    both_empty = score("", "")
    assert both_empty.rate == 0.0


def test_normalization_both_sides_and_switchable():
    ref, hyp = "你好，世界！", "你好 世界"
    assert score(ref, hyp).cer == 0.0
    assert score(ref, hyp, normalize=False).cer == pytest.approx(jiwer.cer(ref, hyp))
    assert normalize_text("Ｈｅｌｌｏ，  World!", "wer") == "hello world"
    assert normalize_text("圓周率是3.14，比分17:16。", "cer") == "圓周率是3.14比分17:16"
    keep_case = Normalization(case=False)
    assert normalize_text("Hello", "wer", keep_case) == "Hello"
    assert score("Hello world", "hello world.", normalize=True).wer == 0.0
    assert score("Hello world", "hello world.", normalize=False).wer == pytest.approx(1.0)


@pytest.mark.parametrize("fmt", ["table", "csv", "md"])
def test_formats_show_rates_and_alignment(tmp_path, fmt):
    out = run_score(tmp_path, "你好世界", "你好是", "--format", fmt).output
    assert "0.5" in out and "substitute" in out and "delete" in out


def test_convert_scores_chinese_per_character_after_itn_leaves_digits(tmp_path):
    # issue 18 item 4: the README's old clip (docs/quality.md); after zh-TW + ITN both sides are digits only, but the
    # hypothesis was Chinese, so it is scored per character (docs/quality.md), not as one word
    got = json.loads(run_score(tmp_path, "0900073331\n", "零九零零零七三三三二\n", "--convert", "--format", "json").output)
    assert got["score"]["mode"] == "cer"
    assert got["score"]["cer"] == pytest.approx(0.1, abs=1e-9)
    assert got["score"]["wer"] is None
    assert (got["score"]["hits"], got["score"]["substitutions"]) == (9, 1)
    assert (got["score"]["ref_tokens"], got["score"]["hyp_tokens"]) == (10, 10)
    assert got["alignment"] == [{"op": "substitute", "ref": "1", "hyp": "2"}]


def test_convert_keeps_words_for_english(tmp_path):
    got = json.loads(run_score(tmp_path, "call 0900073331 now", "call 0900073332 now", "--convert",
                               "--format", "json").output)
    assert got["score"]["mode"] == "wer"
    assert got["score"]["wer"] == pytest.approx(1 / 3)


def test_auto_mode_takes_the_hypothesis_when_the_reference_has_no_letters():
    # a digits-only reference says nothing of the language: the Chinese hypothesis decides
    got = score("0900073331", "零九零零零七三三三二")
    assert (got.mode, got.cer, got.substitutions) == ("cer", 1.0, 10)
    assert score("123 456", "123 457").mode == "wer"
    assert score("", "你好").mode == "cer"
    assert score("你好", "123").mode == "cer"
