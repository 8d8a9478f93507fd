"""results.load_run: a load run read back from the runner's JSON (exact figures from
tests/load_runs.py), its status, what is no load result, and the report's charts on runs
with nothing to draw."""

from __future__ import annotations

import dataclasses
import json

import pytest
from orchestrator.results.load_run import LoadRun, is_load_document
from orchestrator.results.model import ResultError
from tests.load_runs import load_run


def test_levels_read_back_exactly():
    run = load_run(n=32)
    below, above = run.levels
    assert (below.arrivals, below.offered_rate, below.sent, below.ok, below.accounted) == (
        "8/s constant",
        8.0,
        32,
        32,
        True,
    )
    assert below.figure("latency_ms").p99 is None and below.figure("ttft_ms").p50 == 31.25  # p99 needs 662
    assert (below.saturated, below.valid, below.pool_memory.mb_per_1000) == (False, True, 2.0)
    assert (above.figure("latency_ms").p50, above.figure("latency_ms").p90, above.figure("latency_ms").p99) == (
        546.875,
        None,  # 32 requests: a p90 claim needs 64
        None,
    )
    assert (above.throughput_rps, above.goodput_rps, above.saturated) == (16.0, 1.0, True)
    assert above.saturation_why == "queue wait rose 969 ms over the level (1000 ms/s, CI 1000..1000)"
    assert run.status == "ok"


def test_a_level_too_short_for_its_slo_claim_is_not_sustained():
    short, long = load_run(rates=(8.0,), n=32).levels[0], load_run(rates=(8.0,), n=662).levels[0]
    assert short.goodput_rps == short.throughput_rps  # every request met the SLO ...
    assert not short.sustained  # ... but 32 cannot show 90% at 99% confidence: 44 are needed
    assert short.other["slo_claim"]["more"] == 12
    assert long.sustained and long.figure("latency_ms").p99 == 62.5
    assert long.figure("latency_ms").p90 == 62.5


def test_the_stored_document_reads_back_the_same():
    run = load_run()
    text = json.dumps(run.to_json())
    assert LoadRun.from_json(json.loads(text)).to_json() == json.loads(text)


def test_a_late_generator_makes_the_level_invalid():
    (level,) = load_run(rates=(8.0,), late_s=0.0234375).levels
    assert (level.valid, level.lateness_ms.p99) == (False, 23.4375)
    assert level.invalid_reason.startswith("the generator was late by 23.4 ms at p99, over the 10 ms bound")


@pytest.mark.parametrize(
    ("change", "status"),
    [({"error": "pool over 100 MB"}, "error"), ({"interrupted": True}, "interrupted"), ({}, "ok")],
)
def test_status(change, status):
    doc = {**load_run().to_json(), **change}
    assert LoadRun.from_json(doc).status == status


def test_a_failed_request_is_a_failed_run():
    doc = load_run().to_json()
    doc["levels"][1]["failed"] = 1
    assert LoadRun.from_json(doc).status == "failed"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"schema": "orch.run/2", "run_id": "x"}, "unknown load result schema 'orch.run/2'"),
        ({"schema": "orch.load/1", "plan": {}}, "not an orch load result: it has no `plan` and `levels`"),
        ({"plan": {}, "levels": [{"level": 0}]}, "load level 0: no 'arrivals'"),
        ([], "load result: expected an object, got list"),
    ],
)
def test_what_is_no_load_result_is_named(doc, message):
    with pytest.raises(ResultError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LoadRun.from_json(doc)


def test_a_run_result_is_not_a_load_document():
    assert is_load_document(load_run().to_json())
    assert is_load_document({"plan": {}, "levels": []})  # the runner's own JSON (no schema)
    assert not is_load_document({"schema": "orch.run/2", "run_id": "x", "plan": {}, "results": []})


def test_charts_cope_with_nothing_to_draw():
    from orchestrator.history import load_plots

    empty = LoadRun(plan={"strategy": "fresh-process"})
    for chart in (load_plots.latency_chart, load_plots.throughput_chart, load_plots.memory_chart):
        assert chart(empty).startswith(b"\x89PNG")
    run = load_run()
    assert load_plots.level_x(run) == ([8.0, 32.0], "offered rate (requests/s)")


def test_the_answer_says_why_there_is_no_rate():
    assert load_run(rates=(8.0,)).max_rate_line() == "max sustainable rate: 8 req/s"
    short = load_run(rates=(8.0,), n=32)  # open loop, too short for the SLO claim
    assert short.max_rate_line() == "max sustainable rate: none (no open-loop level was sustained from the lowest up)"
    closed = dataclasses.replace(short, levels=[dataclasses.replace(lv, offered_rate=None) for lv in short.levels])
    assert (
        closed.max_rate_line()
        == "max sustainable rate: not measured (no open-loop level: a closed loop offers no rate)"
    )
