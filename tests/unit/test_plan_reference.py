"""The reference and transcript a run uses are the ones its run.json records (issue 18 item 9):
the sidecar X.txt beside X.wav when none is given; a Chinese clip is scored per character."""

import shutil

import pytest
from orchestrator.run.plan import RunPlan

from conftest import REPO


@pytest.fixture
def clip(tmp_path):
    """samples/phone-zh.wav and its digits-only reference, in a folder of their own."""
    for name in ("phone-zh.wav", "phone-zh.txt"):
        shutil.copy(REPO / "samples" / name, tmp_path / name)
    return tmp_path / "phone-zh.wav"


def test_sidecar_reference_is_recorded(clip):
    plan = RunPlan(strategies=["restart"], audio=str(clip))
    assert plan.reference is None  # not given ...
    assert plan.reference_file == str(clip.with_suffix(".txt"))
    assert plan.describe()["reference"] == str(clip.with_suffix(".txt"))  # ... but used, so recorded
    assert plan.describe()["transcript"] is None


def test_given_reference_wins_and_none_without_sidecar(clip, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("0900073331\n", encoding="utf-8")
    assert RunPlan(strategies=["restart"], audio=str(clip), reference=str(other)).describe()["reference"] == str(other)
    clip.with_suffix(".txt").unlink()
    assert RunPlan(strategies=["restart"], audio=str(clip)).describe()["reference"] is None


def test_align_records_the_sidecar_as_transcript_not_reference(clip):
    plan = RunPlan(strategies=["restart"], audio=str(clip), scenario="align")
    assert plan.describe()["reference"] is None
    assert plan.describe()["transcript"] == str(clip.with_suffix(".txt"))
    assert plan.transcript_text() == "0900073331"


def test_chinese_clip_with_digits_only_reference_is_scored_as_chinese(clip, tmp_path):
    # the reference says nothing (digits), the file name says zh: as chatllm is asked Chinese,
    # the calibration engine's transcript is scored per character too
    assert RunPlan(strategies=["restart"], audio=str(clip)).scoring_language() == "Chinese"
    assert RunPlan(strategies=["restart"], audio=str(clip), language="English").scoring_language() == "English"
    plain = tmp_path / "clip.wav"
    shutil.copy(clip, plain)
    (tmp_path / "clip.txt").write_text("0900073331\n", encoding="utf-8")
    # one rule (docs/quality.md): nothing says Chinese, so English, as chatllm is asked; the
    # engine's answer never decides (the same reference, the same metric on every engine)
    assert RunPlan(strategies=["restart"], audio=str(plain)).scoring_language() == "English"
    assert RunPlan(strategies=["restart"]).scoring_language() is None
