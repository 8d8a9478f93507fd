"""Arrival schedules: exact counts, exact constant spacing, seeded gaps whose mean and spread
match the distribution within a tolerance derived from it (never from timing)."""

from __future__ import annotations

import math
import statistics

import pytest
from orchestrator.load.arrivals import ClosedLoop, OpenLoop


@pytest.mark.parametrize("kind", ["constant", "poisson", "gamma"])
def test_a_count_gives_exactly_that_many_starting_at_zero_in_order(kind):
    offsets = OpenLoop(kind, 7.0, burstiness=0.5, seed=3).offsets(count=123)
    assert len(offsets) == 123
    assert offsets[0] == 0.0
    assert offsets == sorted(offsets)


def test_constant_is_evenly_spaced():
    assert OpenLoop("constant", 4.0).offsets(count=5) == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_a_duration_gives_every_arrival_before_it():
    assert len(OpenLoop("constant", 4.0).offsets(duration=2.0)) == 8  # 0, .25, ..., 1.75
    offsets = OpenLoop("poisson", 50.0, seed=1).offsets(duration=10.0)
    assert offsets[-1] < 10.0
    # the next gap would have crossed 10 s: poisson with 500 expected, 4 sd = 4 x sqrt(500)
    assert abs(len(offsets) - 500) <= 4 * math.sqrt(500)


def test_the_same_seed_gives_the_same_schedule_and_another_does_not():
    a = OpenLoop("gamma", 10.0, burstiness=0.3, seed=5).offsets(count=50)
    assert a == OpenLoop("gamma", 10.0, burstiness=0.3, seed=5).offsets(count=50)
    assert a != OpenLoop("gamma", 10.0, burstiness=0.3, seed=6).offsets(count=50)


@pytest.mark.parametrize("kind,burstiness", [("poisson", 1.0), ("gamma", 0.25), ("gamma", 4.0)])
def test_gaps_have_the_distributions_mean_and_spread(kind, burstiness):
    rate, n = 20.0, 20_000
    arrivals = OpenLoop(kind, rate, burstiness=burstiness, seed=11)
    offsets = arrivals.offsets(count=n + 1)
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    mean_gap, cv2 = 1 / rate, arrivals.gap_cv2  # gamma(k, 1/(rate k)): mean 1/rate, CV^2 = 1/k
    sd_of_mean = math.sqrt(cv2) * mean_gap / math.sqrt(n)
    assert abs(statistics.fmean(gaps) - mean_gap) <= 4 * sd_of_mean
    measured_cv2 = statistics.variance(gaps) / statistics.fmean(gaps) ** 2
    # the sample CV^2's own spread is wider (it depends on the 4th moment): 10% covers 4 sd here
    assert measured_cv2 == pytest.approx(cv2, rel=0.10)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="rate must be > 0"):
        OpenLoop("poisson", 0)
    with pytest.raises(ValueError, match="choose from constant, poisson, gamma"):
        OpenLoop("uniform", 1)
    with pytest.raises(ValueError, match="concurrency must be >= 1"):
        ClosedLoop(0)
    with pytest.raises(ValueError, match="a count or a duration"):
        OpenLoop("poisson", 1).offsets(count=1, duration=1)
