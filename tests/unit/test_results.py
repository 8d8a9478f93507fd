"""The result model: checked at construction, one JSON map, /1 files still read."""

import json
from pathlib import Path

import pytest
from orchestrator.results.model import (
    SCHEMA,
    IterationRecord,
    ResultError,
    RunResult,
    Status,
    StrategyResult,
    Summary,
    Verdict,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_a_stored_v1_run_reads_and_is_written_as_v2():
    data = json.loads((FIXTURES / "run_growing.json").read_text())
    assert data["schema"] == "orch.run/1"
    run = RunResult.from_json(data)
    assert [r.strategy for r in run.results] == ["restart", "recreate", "fresh-process"]
    assert all(r.status is Status.OK for r in run.results)
    assert isinstance(run.results[0].iterations[0], IterationRecord)
    assert run.results[0].partial is None  # /1 files predate `partial`
    out = run.to_json()
    assert out["schema"] == SCHEMA == "orch.run/2"

    # everything the /1 file held is still there, key for key
    def subset(new, old):
        return {k: v for k, v in new.items() if k in old}

    for old, new in zip(data["results"], out["results"], strict=False):
        for key, value in old.items():
            if key not in ("summary", "iterations"):
                assert new[key] == value, key
        assert subset(new["summary"], old["summary"]) == old["summary"]
        assert [subset(n, o) for n, o in zip(new["iterations"], old["iterations"], strict=False)] == old["iterations"]


def test_round_trip_is_exact_and_unknown_keys_survive():
    data = {
        "schema": "orch.run/2",
        "run_id": "r1",
        "from_the_future": {"x": 1},
        "results": [
            {
                "strategy": "restart",
                "status": "ok",
                "new_block": [1, 2],
                "iterations": [
                    {
                        "i": 1,
                        "rss_mb": 5.0,
                        "ttft_phases": {"decode_ms": 3.0},
                        "phases": {"after_infer": {"rss_mb": 5.0, "rss_anon_mb": 2.0}},
                    }
                ],
                "summary": {"verdict": "growing", "growth_mb_per_iter": 1.5},
            }
        ],
    }
    run = RunResult.from_json(data)
    assert run.results[0].summary.verdict is Verdict.GROWING
    again = RunResult.from_json(json.loads(json.dumps(run.to_json())))
    assert again.to_json() == run.to_json()
    out = run.to_json()
    assert out["from_the_future"] == {"x": 1} and out["results"][0]["new_block"] == [1, 2]
    it = out["results"][0]["iterations"][0]
    assert it["ttft_phases"] == {"decode_ms": 3.0}
    assert it["phases"]["after_infer"] == {
        "rss_mb": 5.0,
        "uss_mb": None,
        "self_rss_mb": None,
        "procs": None,
        "rss_anon_mb": 2.0,
    }


def test_every_result_has_every_key_even_skipped_ones():
    skipped = StrategyResult(strategy="restart", scenario="switch", status=Status.SKIPPED, error="why")
    keys = set(skipped.to_json())
    assert keys == {
        "strategy",
        "scenario",
        "model",
        "status",
        "error",
        "iterations",
        "teardown",
        "engine_info",
        "summary",
        "samples",
        "partial",
        "per_model",
        "alignment",
    }


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            {"schema": "orch.run/9", "run_id": "x"},
            "unknown result schema 'orch.run/9': this orch reads orch.run/1, orch.run/2",
        ),
        ({"schema": "orch.run/2"}, "run result without a run_id"),
        (
            {"schema": "orch.run/2", "run_id": "x", "results": [{"strategy": "s", "status": "meh"}]},
            "s: unknown status 'meh'",
        ),
        (
            {"schema": "orch.run/2", "run_id": "x", "results": [{"strategy": "s", "iterations": [{"i": 0}]}]},
            "iteration index must be an integer >= 1, not 0",
        ),
        (
            {"schema": "orch.run/2", "run_id": "x", "results": [{"strategy": "s", "summary": {"verdict": "bad"}}]},
            "unknown verdict 'bad'",
        ),
        ({"schema": "orch.run/2", "run_id": "x", "results": [5]}, "strategy result: expected an object, got int"),
    ],
)
def test_bad_results_are_refused_with_what_is_wrong(bad, message):
    with pytest.raises(ResultError) as exc:
        RunResult.from_json(bad)
    assert str(exc.value) == message


def test_memory_series_never_lets_another_model_stand_in():
    its = []
    for i in range(1, 9):
        its.append(IterationRecord(i=i, model="a", rss_mb=80.0, warmup=i <= 1))
        if i != 6:
            its.append(IterationRecord(i=i, model="b", rss_mb=104.0, warmup=i <= 1))
    r = StrategyResult(strategy="recreate", scenario="switch", iterations=its)
    assert [(it.i, it.rss_mb) for it in r.memory_series()] == [(i, 104.0) for i in (2, 3, 4, 5, 7, 8)]
    assert [it.i for it in r.memory_series(measured_only=False)] == [1, 2, 3, 4, 5, 7, 8]
    assert [it.i for it in r.measured()] == [2, 2, 3, 3, 4, 4, 5, 5, 6, 7, 7, 8, 8]


def test_status_tells_what_counts_as_fine():
    assert [s.value for s in Status if s.fine] == ["ok", "skipped"]
    run = RunResult(run_id="x", results=[StrategyResult("a"), StrategyResult("b", status=Status.SKIPPED)])
    assert run.ok
    run.results.append(StrategyResult("c", status=Status.MEMORY_LIMIT))
    assert not run.ok


def test_summary_keeps_none_for_what_was_not_measured():
    s = Summary()
    assert s.to_json()["verdict"] is None and s.to_json()["iters_ok"] == 0
