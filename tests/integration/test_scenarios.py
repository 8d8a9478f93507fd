"""Scenarios switch and align on the calibration engine."""

import pytest
from orchestrator.results import alignment
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST


@pytest.mark.slow
def test_switch_attributes_a_load_leak_to_the_model_that_leaks(tmp_path):
    p = RunPlan(
        strategies=["restart", "recreate", "fresh-process"],
        iters=7,
        warmup=1,
        scenario="switch",
        models=["a:16", "b:48"],
        engine_options={**FAST, "leak_on_load_mb": 5.0, "leak_models": ["b"]},
        out_dir=tmp_path,
    )
    run = execute(p)
    res = {r.strategy: r for r in run.results}
    assert res["restart"].status == "skipped"
    rec = res["recreate"]
    kept_b = rec.per_model["b:48"].kept_per_switch_mb.mean
    kept_a = rec.per_model["a:16"].kept_per_switch_mb.mean
    assert abs(kept_b - 5.0) <= 0.25
    assert abs(kept_a) <= 0.1
    assert abs(rec.per_model["b:48"].released_at_unload_mb.mean - 48.0) <= 0.5
    assert abs(rec.summary.growth_mb_per_iter - 5.0) <= 0.25
    # one process per model per iteration: nothing accumulates
    fp = res["fresh-process"]
    assert fp.status == "ok" and fp.summary.verdict == "stable"
    assert len(fp.iterations) == 14
    # what `compare` prints under its table: one row per strategy and model
    from orchestrator.results.output import switch_rows

    rows = {(r[0], r[1]): r for r in switch_rows(run)}
    assert set(rows) == {(s, m) for s in ("recreate", "fresh-process") for m in ("a:16", "b:48")}
    assert abs(rows[("recreate", "b:48")][5] - 5.0) <= 0.25 and abs(rows[("recreate", "a:16")][5]) <= 0.1


def test_align_checks_every_result(tmp_path, shared):
    p = RunPlan(
        strategies=["restart", "cli", "cli-interactive"],
        iters=3,
        warmup=0,
        scenario="align",
        audio=str(shared / "samples" / "jfk.wav"),
        engine_options=FAST,
        out_dir=tmp_path,
    )
    results = execute(p).results
    # an interactive program takes one audio path per request: no room for the transcript
    assert results[-1].status == "skipped" and "transcript" in results[-1].error
    for r in results[:-1]:
        assert r.status == "ok", r.error
        for it in r.iterations:
            a = it.alignment
            assert a["violations"] == 0 and a["words"][0]["text"] == "And"
        assert r.alignment.iters_with_violations == 0


def test_alignment_checks_count_nonsense_instead_of_crashing():
    text = (
        '[{"start": 2.0, "end": 1.0, "text": "so"}, {"start": 0.5, "end": 30.0, "text": "And"},'
        ' {"start": 0.6, "end": 0.7, "text": "bogus"}]'
    )
    c = alignment.check(text, "And so, my", audio_s=11.0)
    assert c["inverted"] == 1 and c["backwards"] == 1 and c["out_of_range"] == 1
    assert c["missing"] == 1 and c["extra"] == 1
    assert alignment.check("garbage", "And so", 11.0)["parse_error"]


def test_srt_format():
    srt = alignment.to_srt([{"text": "And", "start": 0.0, "end": 1.234}, {"text": "so", "start": 61.5, "end": 3725.0}])
    assert srt.splitlines()[:3] == ["1", "00:00:00,000 --> 00:00:01,234", "And"]
    assert "00:01:01,500 --> 01:02:05,000" in srt


def test_chinese_transcript_words_are_characters():
    assert alignment.words_of("开放时间, iPhone 四s!") == ["开", "放", "时", "间", "iphone", "四", "s"]
