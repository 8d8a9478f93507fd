"""The result footer's warning for a `stable` verdict whose interval still allows growth."""

from orchestrator.results.model import RunResult, StrategyResult, Summary, Verdict
from orchestrator.results.output import result_footer, stable_but_wide

PLAN = {"thresholds": {"growth_mb_per_iter": 0.1}}


def strategy(verdict, ci):
    return StrategyResult(
        strategy="recreate-destroy", summary=Summary(growth_mb_per_iter=19.329, growth_ci95=ci, verdict=verdict)
    )


def test_a_short_stable_run_that_cannot_rule_out_a_leak_says_so():
    # the aligner's 10-iteration run (docs/real-scale.md): stable, CI [-6.493, 33.5]
    r = RunResult(run_id="x", plan=PLAN, results=[strategy(Verdict.STABLE, [-6.493, 33.5])])
    assert result_footer(r, "/runs/x").splitlines() == [
        "recreate-destroy: `stable` shows no growth, but does not rule it out: the 95% CI reaches "
        "+33.500 MB/iter (the threshold is 0.1); more iterations narrow it",
        "results: /runs/x  (run.json, <strategy>.jsonl, worker logs)",
    ]


def test_no_warning_for_a_narrow_interval_or_another_verdict():
    assert stable_but_wide(strategy(Verdict.STABLE, [-0.002, 0.1]), 0.1) is None
    assert stable_but_wide(strategy(Verdict.GROWING, [30.0, 40.0]), 0.1) is None
    assert stable_but_wide(strategy(Verdict.PLATEAU, [-5.0, 30.0]), 0.1) is None
    assert stable_but_wide(strategy(Verdict.STABLE, [-6.5, 33.5]), None) is None
    assert stable_but_wide(StrategyResult(strategy="restart"), 0.1) is None
