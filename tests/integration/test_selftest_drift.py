"""`orch selftest`'s drift checks (orchestrator.studies.selftest_drift): drift at exactly K
in every strategy of the calibration engine, never on a clean run; and the checks fail when
the harness would find drift at the wrong iteration or on a clean run."""

import pytest
from orchestrator.results.model import IterationRecord, StrategyResult, Summary
from orchestrator.run import strategies as registry
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute
from orchestrator.studies import selftest_drift


@pytest.mark.slow
def test_drift_checks_pass_on_the_calibration_engine(tmp_path):
    plan = RunPlan(["restart"], iters=5, warmup=1, engine_options={"ttft_ms": 2, "token_ms": 1}, out_dir=tmp_path)
    clean = {"restart": execute(plan).results[0]}
    lines = []
    checks = selftest_drift.drift_checks(clean, tmp_path, echo=lines.append)
    assert [(c.name, c.ok, c.measured) for c in checks] == [("restart: no drift on a clean run", True, None)] + [
        (f"{s} [drift_at=3, drift_mode={('text', 'char')[n % 2]}]: drift found at", True, 3)
        for n, s in enumerate(registry.for_engine("calibration"))
    ]
    assert lines[0] == "  ok   restart: no drift on a clean run"


def entry(texts):
    from orchestrator.results import drift

    its = [IterationRecord(i=i, text_raw=t) for i, t in enumerate(texts, 1)]
    summary = Summary()
    drift.summarize(summary, its, "greedy")
    return StrategyResult(strategy="restart", iterations=its, summary=summary)


def test_a_drift_found_one_iteration_late_fails():
    check = selftest_drift.drift_at_check("restart", "char", entry(["a", "a", "a", "b", "b", "b"]), 6)
    assert (check.ok, check.measured, check.detail) == (False, 4, "3 of 6 iterations changed (want 4)")


def test_drift_on_a_clean_run_fails():
    check = selftest_drift.clean_check("restart", entry(["a", "b"]))
    assert (check.ok, check.detail) == (False, "first changed at 2")
