"""orch ab --load's comparison (studies.load_ab) on load runs with exact figures
(tests/load_runs.py): per-level p99 latency and goodput, the max sustainable rate, the
bootstrap CI from the request records, the verdict and its exit code."""

from __future__ import annotations

import json

from orchestrator.errors import ExitCode
from orchestrator.studies import load_ab
from tests.load_runs import level_records, load_run

FAST, SLOWER, TOO_SLOW = 0.0625, 0.09375, 0.125  # service seconds: latency 62.5, 93.75, 125 ms


def _runs(b_service: float):
    return load_run(rates=(4.0, 8.0), service_s=FAST), load_run(rates=(4.0, 8.0), service_s=b_service)


def test_an_a_a_comparison_finds_no_difference():
    a, _ = _runs(FAST)
    ab = load_ab.compare(a, a, "a.json", "a.json")
    assert ab.verdict == "no difference" and load_ab.exit_code(ab) is ExitCode.OK
    assert ab.max_sustainable_rate == (8.0, 8.0)
    assert [c.p99_latency_ms.diff for c in ab.levels] == [0.0, 0.0]


def test_a_slower_b_regresses_on_p99_latency():
    a, b = _runs(SLOWER)
    ab = load_ab.compare(a, b, "a", "b")
    assert [(c.level, c.p99_latency_ms.a, c.p99_latency_ms.b, c.p99_latency_ms.diff) for c in ab.levels] == [
        ("4/s constant", 62.5, 93.75, 31.25),
        ("8/s constant", 62.5, 93.75, 31.25),
    ]
    assert ab.max_sustainable_rate == (8.0, 8.0)  # 93.75 ms still meets latency_ms=100
    assert ab.verdict == "regressed" and load_ab.exit_code(ab) is ExitCode.REGRESSED
    assert ab.reasons == [
        "no request records for one side: p99 latency judged on the threshold alone, without a CI",
        "B is worse: 4/s constant: p99 latency 62.5 -> 93.8 ms (B − A +31.2); "
        "8/s constant: p99 latency 62.5 -> 93.8 ms (B − A +31.2)",
    ]


def test_b_out_of_its_slo_loses_the_max_sustainable_rate():
    a, b = _runs(TOO_SLOW)
    ab = load_ab.compare(a, b, "a", "b")
    assert ab.max_sustainable_rate == (8.0, None)
    assert [c.goodput_rps.b for c in ab.levels] == [0.0, 0.0]
    assert [c.sustained for c in ab.levels] == [(True, False), (True, False)]
    assert ab.verdict == "regressed"
    assert "max sustainable rate 8 -> none req/s" in ab.reasons[-1]


def test_the_other_way_round_is_an_improvement():
    a, b = _runs(SLOWER)
    ab = load_ab.compare(b, a, "b", "a")
    assert ab.verdict == "improved" and load_ab.exit_code(ab) is ExitCode.OK


def test_saturation_and_unpaired_levels():
    a = load_run(rates=(8.0,), service_s=FAST)
    b = load_run(rates=(8.0, 32.0), service_s=FAST)
    ab = load_ab.compare(b, a, "b", "a")  # A has 32/s (saturated), B has not run it
    assert ab.unpaired == ["A's 32/s constant"]
    assert ab.reasons[0] == "not compared (run by one side only): A's 32/s constant"
    a_sat = load_run(rates=(32.0,), service_s=0.03125)  # 32/s into a 32/s server: no wait
    b_sat = load_run(rates=(32.0,), service_s=FAST)  # 32/s into 16/s: saturated
    ab = load_ab.compare(a_sat, b_sat, "a", "b")
    assert ab.levels[0].saturated == (False, True)
    assert "32/s constant: saturated on B, not on A" in ab.reasons[-1]


def test_the_bootstrap_ci_comes_from_the_request_records(tmp_path):
    a, b = _runs(SLOWER)
    for run, service, name in ((a, FAST, "a"), (b, SLOWER, "b")):
        path = tmp_path / name / "requests.jsonl"
        path.parent.mkdir()
        lines = [
            json.dumps(r.to_json())
            for level, rate in enumerate((4.0, 8.0))
            for r in level_records(level, rate, 32, service, 0.03125)
        ]
        path.write_text("\n".join(lines) + "\n")
        run.records_path = str(path)
    ab = load_ab.compare(a, b, "a", "b")
    # every latency is one value per side: every resample's p99 difference is 31.25
    assert [c.p99_latency_ms.ci95 for c in ab.levels] == [[31.25, 31.25], [31.25, 31.25]]
    assert ab.reasons[0].startswith("B is worse: 4/s constant: p99 latency 62.5 -> 93.8 ms (B − A +31.2 [+31.2, +31.2])")


def test_bootstrap_is_seeded_and_brackets_the_difference():
    a = [10.0 + k for k in range(50)]
    b = [30.0 + k for k in range(50)]
    ci = load_ab.bootstrap_p99_diff(a, b)
    assert ci == load_ab.bootstrap_p99_diff(a, b)
    assert ci[0] <= 20.0 <= ci[1]


def test_the_table_and_summary():
    a, b = _runs(TOO_SLOW)
    ab = load_ab.compare(a, b, "a", "b")
    assert load_ab.table_rows(ab)[0] == [
        "4/s constant", 62.5, 125.0, 62.5, None, 4.0, 0.0, "yes/no", "no/no", "0/0",
    ]  # fmt: skip
    assert load_ab.summary_lines(ab)[:2] == ["max sustainable rate: A 8 req/s, B none", "verdict: regressed"]
    assert ab.levels[0].goodput_rps.a == 662 / 165.3125  # 662 requests from 0 to 661/4 s + 62.5 ms
