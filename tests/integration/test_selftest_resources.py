"""orch selftest's resource checks on the calibration engine: 1 thread, 2 fds and 3 maps leaked
per iteration are measured back exactly (1.000, 2.000, 3.000, CIs above 0), a clean run as 0;
a check fails when the measurement is off."""

from __future__ import annotations

import pytest
from orchestrator.results.model import ResourceFit, StrategyResult, Summary
from orchestrator.run import procfs
from orchestrator.run.runner import execute
from orchestrator.studies.selftest import calibration_plan
from orchestrator.studies.selftest_resources import resource_check, resource_checks

pytestmark = pytest.mark.skipif(not procfs.AVAILABLE, reason="needs Linux /proc")
FAST = {"ttft_ms": 2.0, "token_ms": 0.5}


def test_injected_leaks_are_measured_back_exactly_and_a_clean_run_as_zero(tmp_path):
    clean = execute(calibration_plan("restart", FAST, 8, 1, tmp_path)).results[0]
    checks = resource_checks(clean, calibration_plan, FAST, 8, 1, tmp_path, echo=lambda _m: None)
    assert [c.name for c in checks] == [
        "restart [no leak]: threads growth",
        "restart [no leak]: fds growth",
        "restart [no leak]: maps growth",
        "restart [leak_threads=1]: threads growth",
        "restart [leak_fds=2, leak_maps=3]: fds growth",
        "restart [leak_fds=2, leak_maps=3]: maps growth",
    ]
    assert all(c.ok for c in checks), [(c.name, c.measured, c.detail) for c in checks if not c.ok]
    assert [round(c.measured, 3) for c in checks] == [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]


def test_a_measurement_off_by_a_little_or_without_a_ci_above_zero_fails():
    def entry(growth, ci, verdict="growing"):
        fit = ResourceFit(growth_per_iter=growth, ci95=ci, verdict=verdict)
        return StrategyResult("restart", summary=Summary(resources={"fds": fit}))

    assert resource_check("x", entry(2.0, [2.0, 2.0]), "fds", 2.0).ok
    assert not resource_check("x", entry(2.01, [2.0, 2.02]), "fds", 2.0).ok
    assert not resource_check("x", entry(2.0, [0.0, 4.0]), "fds", 2.0).ok
    assert not resource_check("x", entry(0.2, [0.1, 0.3]), "fds", 0.0).ok  # growing on a clean run
    assert not resource_check("x", StrategyResult("restart", summary=Summary()), "fds", 0.0).ok  # not measured
