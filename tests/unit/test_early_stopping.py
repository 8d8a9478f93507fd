"""LoadGen's early-stopping rule, checked against scipy's binomial (an independent computation)."""

import pytest
from orchestrator.results import early_stopping as es
from scipy.stats import binom


def scipy_min_passing(t: int, p: float, c: float = 0.99) -> int:
    h = 1
    while binom.cdf(t, h + t, 1 - p) >= 1 - c:
        h += 1
    return h


@pytest.mark.parametrize("t", [0, 1, 2, 5, 20])
@pytest.mark.parametrize("p", [0.5, 0.9, 0.99])
def test_min_passing_matches_scipy(t, p):
    assert es.min_passing(t, p) == scipy_min_passing(t, p)


@pytest.mark.parametrize("k,n,q", [(0, 10, 0.1), (3, 50, 0.01), (12, 700, 0.01), (90, 1000, 0.1)])
def test_binom_cdf_matches_scipy(k, n, q):
    assert es.binom_cdf(k, n, q) == pytest.approx(binom.cdf(k, n, q), rel=1e-9)


def test_the_counts_loadgen_publishes():
    assert es.min_requests(0.9) == 64
    assert es.min_requests(0.99) == 662
    assert es.min_passing(0, 0.99) == 459  # 459 passing with none over the bound


def test_p99_refused_at_100_and_accepted_at_662():
    refused = es.estimate([float(x) for x in range(100)], 0.99)
    assert refused.value is None and refused.needs == 662 and refused.describe() == "n=100, needs ≥ 662"
    accepted = es.estimate([float(x) for x in range(662)], 0.99)
    assert accepted.value == 661.0 and accepted.discarded == 0  # t = 1: the slowest one


def test_estimate_sets_aside_what_the_test_allows():
    n = 2000
    values = [float(x) for x in range(n)]
    e = es.estimate(values, 0.9)
    t = e.discarded + 1
    assert n >= scipy_min_passing(t, 0.9) + t  # t is allowed ...
    assert n < scipy_min_passing(t + 1, 0.9) + t + 1  # ... and t + 1 is not
    assert e.value == values[n - t]
    assert e.value >= sorted(values)[int(0.9 * n)]  # conservative: at or above the plain p90


def test_bound_claim_says_how_many_more():
    assert es.bound_claim(459, 0, 0.99).holds
    short = es.bound_claim(100, 0, 0.99)
    assert not short.holds and short.more == 359
    with_misses = es.bound_claim(100, 3, 0.9)
    assert with_misses.required == scipy_min_passing(3, 0.9) + 3
    assert with_misses.holds == (100 >= with_misses.required)
