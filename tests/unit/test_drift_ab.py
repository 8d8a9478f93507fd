"""`orch ab` and drift: a side whose transcript changes under greedy decoding against one
whose does not (orchestrator.results.drift.ab_judgement through ab.judge)."""

import pytest
from orchestrator.results import drift
from orchestrator.results.ab_table import ab_rows
from orchestrator.results.model import ABRound, ABVerdict, IterationRecord, RunResult, StrategyResult, Summary
from orchestrator.run.plan import Thresholds
from orchestrator.studies import ab


def side(texts: list[str]) -> StrategyResult:
    its = [
        IterationRecord(i=i, warmup=i <= 2, ttft_ms=5.0 + 0.01 * (i % 3), tokens_per_s=1000.0 + (i % 4), rss_mb=10.0)
        for i in range(1, len(texts) + 1)
    ]
    for it, text in zip(its, texts, strict=True):
        it.text_raw = it.text = text
    summary = Summary(growth_mb_per_iter=0.0, growth_ci95=[-0.01, 0.01])
    drift.summarize(summary, its, "greedy")
    return StrategyResult(strategy="restart", iterations=its, summary=summary)


STABLE = ["same"] * 8
CHANGED = ["same"] * 4 + ["other"] * 4


@pytest.mark.parametrize(
    "a, b, verdict, reason",
    [
        (
            STABLE,
            CHANGED,
            ABVerdict.REGRESSED,
            "B is worse: B's transcript changed under greedy decoding, A's did not "
            "(round 1: changed at 5 (4 iters); round 2: changed at 5 (4 iters))",
        ),
        (
            CHANGED,
            STABLE,
            ABVerdict.FIXED,
            "A's transcript changed under greedy decoding, B's did not "
            "(round 1: changed at 5 (4 iters); round 2: changed at 5 (4 iters))",
        ),
        (CHANGED, CHANGED, ABVerdict.NO_DIFFERENCE, "no figure differs beyond its threshold with a CI that excludes 0"),
        (STABLE, STABLE, ABVerdict.NO_DIFFERENCE, "no figure differs beyond its threshold with a CI that excludes 0"),
    ],
)
def test_a_side_that_drifts_against_one_that_does_not(a, b, verdict, reason):
    rounds = [ABRound(round=k, a=side(a), b=side(b)) for k in (1, 2)]
    out = ab.judge(rounds, Thresholds(), speed_pct=5.0)
    assert (out.verdict, out.reasons) == (verdict, [reason])


def test_the_ab_table_has_a_text_row():
    rounds = [ABRound(round=k, a=side(STABLE), b=side(CHANGED)) for k in (1, 2)]
    run = RunResult(run_id="r", results=[StrategyResult(strategy="restart", ab=ab.judge(rounds, Thresholds(), 5.0))])
    rows = ab_rows(run)
    assert rows[-1] == [
        "",
        "text",
        "stable",
        "round 1: changed at 5 (4 iters); round 2: changed at 5 (4 iters)",
        None,
        None,
        "",
    ]
    assert ab.exit_code(run, interrupted=False) == 3  # a regression (ExitCode.REGRESSED)
