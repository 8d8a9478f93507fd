"""Every growth states its count, and below the count that supports it says so (issue 27,
item 4): a figure per 1000 requests from 8 requests is `too few requests`, not +734.9 MB
[+468, +1738]; a run of 2 measured iterations is `too few iterations`; a fit scipy cannot
make is no fit, never a nan, and prints no warning."""

from __future__ import annotations

import math
import warnings

import pytest
from orchestrator.load import memory
from orchestrator.results import analysis, output
from orchestrator.results.load_run import MIN_GROWTH_REQUESTS, LoadMemory, growth_text
from orchestrator.results.model import IterationRecord, RunResult, Status, StrategyResult, Thresholds


@pytest.mark.parametrize("xs", [[5, 5, 5], [5, 5, 5, 5, 5, 5], [1, 1, 2]])
def test_a_fit_without_three_distinct_x_is_none_and_silent(xs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning (scipy's, numpy's) fails the test
        assert analysis.slope_ci(xs, [float(k) for k in range(len(xs))]) is None


def test_the_per_1000_figure_needs_enough_requests():
    few = growth_text(734.9, (468.0, 1738.0), 8, 12)
    assert few == f"too few requests for a figure per 1000 (8 requests, 12 samples; {MIN_GROWTH_REQUESTS} needed)"
    enough = growth_text(1.3, (0.98, 1.67), 800, 160)
    assert enough == "+1.30 MB per 1000 requests (95% CI +0.98..+1.67; 800 requests, 160 samples)"
    assert not LoadMemory("w1", 734.9, 468.0, 1738.0, 8, 12).enough
    assert LoadMemory("w1", 1.3, 0.98, 1.67, MIN_GROWTH_REQUESTS, 12).enough


def test_memory_growth_over_few_requests_is_counted_not_nan():
    points = [(0, 100.0), (1, 130.0), (2, 90.0), (3, 140.0)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = memory.growth("w1", points)
    assert fit is not None and fit.requests == 3 and fit.samples == 4
    assert all(math.isfinite(v) for v in (fit.mb_per_1000, *fit.ci))
    assert growth_text(fit.mb_per_1000, fit.ci, fit.requests, fit.samples).startswith("too few requests")


def _entry(iters: int, warmup: int) -> StrategyResult:
    its = [IterationRecord(i=i, warmup=i <= warmup, rss_mb=100.0 + i, ttft_ms=10.0) for i in range(1, iters + 1)]
    entry = StrategyResult(strategy="restart", scenario="asr", model="m", status=Status.OK, iterations=its)
    entry.summary = analysis.summarize(its, Thresholds())
    return entry


@pytest.mark.parametrize("iters, warmup, shown", [
    (2, 0, "too few iterations (2; 3 needed)"),
    (2, 2, "too few iterations (0; 3 needed)"),
    (6, 0, "growing"),
])
def test_the_run_table_says_too_few_iterations_with_the_count(iters, warmup, shown):
    result = RunResult(run_id="r", started_at="t", host={}, engine={}, plan={}, results=[_entry(iters, warmup)])
    (row,) = output.result_rows(result)
    assert row[output.HEADERS.index("verdict")] == shown
    assert "nan" not in output.result_table(result)
