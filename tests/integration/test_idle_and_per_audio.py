"""Memory after idle (--idle-s: one more mark after the last request) and growth per second
of audio, on the calibration engine."""

import pytest
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST, REPO

AUDIO = REPO / "samples" / "phone-zh.wav"


def test_idle_mark_on_the_last_record_of_a_long_lived_worker_only(tmp_path):
    p = RunPlan(
        strategies=["restart", "fresh-process"],
        iters=4,
        warmup=1,
        engine_options={**FAST, "leak_mb": 2.0},
        out_dir=tmp_path,
        iter_timeout=20,
        idle_s=0.5,
    )
    restart, fresh = execute(p).results
    assert restart.status == "ok" and fresh.status == "ok"
    marks = [sorted(it.phases) for it in restart.iterations]
    assert "after_idle" in marks[-1] and all("after_idle" not in m for m in marks[:-1])
    last = restart.iterations[-1]
    s = restart.summary
    assert s.idle_rss_mb == last.phase_rss("after_idle")
    # restart unloads at the end: what came back is measured from after_unload; the
    # calibration engine's leak never comes back, its freed weights already did at unload
    assert s.idle_returned_mb == pytest.approx(last.phase_rss("after_unload") - s.idle_rss_mb)
    assert abs(s.idle_returned_mb) < 1.0
    assert all("after_idle" not in it.phases for it in fresh.iterations)  # a worker per iteration: no rest
    assert fresh.summary.idle_rss_mb is None and fresh.summary.idle_returned_mb is None


def test_idle_must_be_shorter_than_the_iteration_timeout(tmp_path):
    p = RunPlan(strategies=["restart"], iters=2, out_dir=tmp_path, iter_timeout=5, idle_s=5)
    assert p.validate() == ["idle_s 5 must be under iter_timeout 5 (the parent would take the idle worker for hung)"]


def test_growth_per_second_of_audio(tmp_path):
    p = RunPlan(
        strategies=["restart"],
        iters=6,
        warmup=1,
        engine_options={**FAST, "leak_mb": 2.0},
        out_dir=tmp_path,
        audio=str(AUDIO),
        iter_timeout=20,
    )
    r = execute(p).results[0]
    s = r.summary
    assert p.audio_s and p.audio_s > 1
    assert s.growth_mb_per_audio_s == pytest.approx(s.growth_mb_per_iter / p.audio_s)
    assert abs(s.growth_mb_per_iter - 2.0) <= 0.1
