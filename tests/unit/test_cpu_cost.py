"""CPU cost: each request's CPU seconds of the worker tree, read from /proc at the marks, and
core-hours per audio hour per strategy and per load level (results.figures)."""

from __future__ import annotations

import pytest
from orchestrator.results import analysis, figures
from orchestrator.results.load_run import LoadLevel
from orchestrator.results.model import IterationRecord, Summary
from orchestrator.run import procfs
from orchestrator.run.record_builder import RecordBuilder
from orchestrator.run.sampler import Sample

STAT = b"1234 (a (b) c) S 1 1234 1234 0 -1 4194304 100 0 0 0 250 50 30 20 20 0 3 0 100 1000 50"


def test_cpu_seconds_reads_user_system_and_reaped_children():
    assert procfs.cpu_seconds(STAT) == pytest.approx((250 + 50 + 30 + 20) / procfs.CLK_TCK)


def _mark(cpu_s):
    return Sample(0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 1, cpu_s=cpu_s, resources={"threads": 2.0})


def test_a_request_costs_what_the_tree_spent_between_its_marks():
    assert RecordBuilder.cpu_s(_mark(3.5), _mark(1.25)) == 2.25
    assert RecordBuilder.cpu_s(_mark(3.5), None) is None
    assert RecordBuilder.resources(_mark(1.0), None) == {"threads": 2.0, "vm_hwm_reset": 0.0}


def test_core_hours_per_audio_hour_is_cpu_seconds_over_audio_seconds():
    its = [IterationRecord(i=1, warmup=True, cpu_s=9.0)] + [IterationRecord(i=k, cpu_s=2.0) for k in (2, 3, 4)]
    s = Summary()
    analysis.add_cpu_cost(s, its, audio_s=8.0)
    assert (s.cpu_s_median, s.core_h_per_audio_h) == (2.0, 0.25)  # the warm-up left out
    analysis.add_cpu_cost(none := Summary(), its, audio_s=None)
    assert none.core_h_per_audio_h is None
    level = LoadLevel.from_json(
        {"level": 0, "arrivals": "concurrency 1", "sent": 4, "ok": 4, "throughput_rps": 1.0, "duration_s": 10.0,
         "audio_s_per_s": 2.0, "cpu_s": 5.0}
    )  # fmt: skip
    assert figures.load("core_h_per_audio_h").of(level) == 0.25 and level.to_json()["cpu_s"] == 5.0
