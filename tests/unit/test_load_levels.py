"""Level statistics on fixed records: exact percentiles, goodput, accounting, lateness
validity, and saturation on synthetic rising and flat queue waits."""

from __future__ import annotations

import random

import pytest
from orchestrator.load.arrivals import ClosedLoop, OpenLoop
from orchestrator.load.levels import RequestRecord, Slo, level_stats, percentile, saturation
from orchestrator.load.queueing import mean_wait_s, replay_waits


def rec(i, sent, wait=0.0, service=0.1, ttft=0.05, status="ok", audio_s=2.0, late=0.0, warmup=False):
    dispatched = sent + wait
    done = status in ("ok", "failed", "timed_out")
    return RequestRecord(
        i=i,
        level=0,
        warmup=warmup,
        audio=None,
        audio_s=audio_s,
        scheduled=sent - late,
        sent=sent,
        status=status,
        dispatched=dispatched if done else None,
        t_request=dispatched if done else None,
        t_first=dispatched + ttft if status == "ok" else None,
        t_end=dispatched + service if status == "ok" else None,
        freed=dispatched + service if done else None,
    )


def test_percentile_interpolates_between_ranks():
    xs = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(xs, 50) == 5.5
    assert percentile(xs, 90) == pytest.approx(9.1)
    assert percentile(xs, 99) == pytest.approx(9.91)
    assert percentile([3.0], 99) == 3.0


def test_level_counts_every_status_and_accounts_for_them():
    recs = [rec(k, float(k)) for k in range(1, 7)]
    recs += [rec(7, 7.0, status="failed"), rec(8, 8.0, status="timed_out"), rec(9, 9.0, status="dropped")]
    recs += [rec(10, 1.0, warmup=True)]  # warm-up: not counted
    s = level_stats(0, OpenLoop("constant", 1.0), recs, Slo())
    assert (s.sent, s.ok, s.failed, s.timed_out, s.dropped, s.cancelled) == (9, 6, 1, 1, 1, 0)
    assert s.accounted is True
    # from the first send (1.0) to the last end (9.0, the dropped one's send; 8.1 the last freed)
    assert s.duration_s == pytest.approx(8.0)
    assert s.throughput_rps == pytest.approx(6 / 8.0)
    assert s.audio_s_per_s == pytest.approx(12.0 / 8.0)
    assert s.goodput_rps is None


def test_latency_percentiles_and_rtf_are_exact():
    recs = [rec(k, float(k), wait=0.01 * k, ttft=0.05, service=0.2) for k in range(1, 11)]
    s = level_stats(0, ClosedLoop(1), recs, Slo())
    lat = s.latencies
    assert lat.queue_wait_ms.p50 == pytest.approx(55.0)
    # 10 requests: no p90 (needs 64) nor p99 (662) claim: none is printed (results.early_stopping)
    assert (lat.ttft_ms.p90, lat.ttft_dispatch_ms.p99, lat.latency_ms.p99, lat.latency_ms.n) == (None, None, None, 10)
    assert lat.ttft_ms.p50 == pytest.approx(50 + 55.0)  # wait 10..100 ms at p50 = 55, plus TTFT 50
    assert lat.rtf.p50 == pytest.approx((0.2 + 0.055) / 2.0)
    assert s.lateness_ms is None  # closed loop: no schedule to be late for


def test_percentiles_are_early_stopping_estimates_where_the_count_holds():
    recs = [rec(k, float(k), wait=0.001 * k, ttft=0.05, service=0.2) for k in range(1, 701)]
    lat = level_stats(0, ClosedLoop(1), recs, Slo()).latencies
    # 700 waits of 1..700 ms: each estimate sets aside the slowest the test allows (t - 1)
    assert lat.queue_wait_ms.p99 == pytest.approx(700.0)  # at 700, t = 1: the slowest itself
    assert 0.9 * 700 < lat.queue_wait_ms.p90 < 700
    assert lat.queue_wait_ms.n == 700


def test_goodput_counts_only_ok_requests_within_every_bound():
    recs = [rec(1, 1.0, ttft=0.5), rec(2, 2.0, ttft=1.5), rec(3, 3.0, ttft=0.1, service=3.0), rec(4, 4.0, status="failed")]
    slo = Slo.parse("ttft_ms=1000,rtf=1")  # 2: TTFT too long; 3: RTF 1.5; 4: failed
    s = level_stats(0, OpenLoop("constant", 1.0), recs, slo)
    assert s.goodput_rps == pytest.approx(1 / s.duration_s)
    assert s.slo == "ttft_ms=1000,rtf=1"


def test_slo_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="write NAME=NUMBER"):
        Slo.parse("ttft=5")
    with pytest.raises(ValueError, match="is not a number"):
        Slo.parse("rtf=fast")
    with pytest.raises(ValueError, match="must be > 0"):
        Slo.parse("rtf=0")


def test_a_late_generator_makes_the_level_invalid():
    recs = [rec(k, float(k), late=0.001) for k in range(1, 100)] + [rec(100, 100.0, late=0.050)] * 2
    ok = level_stats(0, OpenLoop("constant", 1.0), recs[:99], Slo(), max_lateness_ms=10)
    assert ok.valid and ok.lateness_ms.p50 == pytest.approx(1.0) and ok.lateness_ms.p99 is None  # 99 < 662
    late = level_stats(0, OpenLoop("constant", 1.0), recs, Slo(), max_lateness_ms=10)
    assert not late.valid and "late by" in late.invalid_reason


def test_rising_queue_wait_is_saturation_and_flat_noise_is_not():
    rng = random.Random(4)
    rising = [rec(k, k * 0.05, wait=0.5 * k * 0.05 + rng.uniform(0, 0.02)) for k in range(200)]
    s = saturation(rising)
    assert s.saturated and s.slope_ms_per_s == pytest.approx(500, rel=0.05)
    flat = [rec(k, k * 0.05, wait=rng.uniform(0, 0.2)) for k in range(200)]
    assert not saturation(flat).saturated
    assert saturation(rising[:5]).why == "too few requests to tell (5)"
    assert saturation(flat, dropped=3).saturated


def test_a_stable_mdl_queue_is_not_called_saturated_and_an_overloaded_one_is():
    from orchestrator.load.arrivals import OpenLoop as OL

    for rate, want in ((14.0, False), (30.0, True)):  # service 50 ms: rho 0.7, 1.5
        arr = OL("poisson", rate, seed=2).offsets(count=300)
        waits = replay_waits(arr, [0.05] * 300)
        recs = [rec(k, a, wait=w, service=0.05) for k, (a, w) in enumerate(zip(arr, waits, strict=True))]
        assert saturation(recs).saturated is want


def test_queueing_formulas():
    assert mean_wait_s(10, 0.05) == pytest.approx(0.5 * 0.05 / (2 * 0.5))  # M/D/1: rho D / 2(1-rho)
    assert mean_wait_s(10, 0.05, ca2=1, cs2=1) == pytest.approx(0.05 * 0.5 / 0.5)  # M/M/1
    assert mean_wait_s(30, 0.05, servers=2, ca2=1, cs2=1) == pytest.approx(0.05 * 0.6429 / 0.5, rel=1e-3)
    assert mean_wait_s(20, 0.05) == float("inf")
    assert mean_wait_s(10, 0.05, ca2=0) == 0.0  # D/D/1 below capacity
    assert replay_waits([0.0, 0.01, 0.02], [0.05, 0.05, 0.05]) == pytest.approx([0.0, 0.04, 0.08])
    assert replay_waits([0.0, 0.01, 0.02], [0.05, 0.05, 0.05], servers=2) == pytest.approx([0.0, 0.0, 0.03])
