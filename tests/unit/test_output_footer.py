"""The lines under the table that the verdict column cannot say: a `stable` verdict whose
interval still allows growth, a `shrinking` one in words; run/compare and soak alike."""

from orchestrator.history import soak_output
from orchestrator.history.soak_cell import CellRun
from orchestrator.results.model import Outcome, RunResult, StrategyResult, Summary, Verdict
from orchestrator.results.output import result_footer, stable_but_wide, verdict_notes

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


WIDE = (
    "recreate-destroy: `stable` shows no growth, but does not rule it out: the 95% CI reaches "
    "+33.500 MB/iter (the threshold is 0.1); more iterations narrow it"
)


def shrinking(name="cli"):
    return StrategyResult(
        strategy=name,
        summary=Summary(growth_mb_per_iter=-0.111, growth_ci95=[-0.172, -0.051], verdict=Verdict.SHRINKING),
    )


def test_a_shrinking_verdict_is_said_in_words():
    r = RunResult(run_id="x", plan=PLAN, results=[shrinking()])
    assert result_footer(r, "/runs/x").splitlines() == [
        "cli: `shrinking`: memory falls 0.111 MB/iter (95% CI [-0.172, -0.051]); memory given back is no leak",
        "results: /runs/x  (run.json, <strategy>.jsonl, worker logs)",
    ]


def test_verdict_notes_in_strategy_order():
    r = RunResult(run_id="x", plan=PLAN, results=[strategy(Verdict.STABLE, [-6.493, 33.5]), shrinking()])
    assert verdict_notes(r) == [
        WIDE,
        "cli: `shrinking`: memory falls 0.111 MB/iter (95% CI [-0.172, -0.051]); memory given back is no leak",
    ]


def test_soak_prints_the_stable_but_wide_line_under_its_table():
    r = RunResult(run_id="x", plan=PLAN, results=[strategy(Verdict.STABLE, [-6.493, 33.5])])
    cell = CellRun(soak="n", matrix_key="n/calib", result=r, outcome=Outcome.OK)
    lines = soak_output.cell_lines(cell, "table", inputs_named=False)
    assert lines[-1] == (WIDE, False)
    assert [line for line, to_stderr in lines if to_stderr] == []


def test_soak_with_data_on_stdout_says_it_on_stderr():
    r = RunResult(run_id="x", plan=PLAN, results=[strategy(Verdict.STABLE, [-6.493, 33.5])])
    cell = CellRun(soak="n", matrix_key="n/calib", result=r, outcome=Outcome.OK)
    lines = soak_output.cell_lines(cell, "csv", inputs_named=False)
    assert not any("rule it out" in line for line, to_stderr in lines if not to_stderr)
    assert [line for line, to_stderr in lines if to_stderr] == [f"note: n/calib: {WIDE}"]
