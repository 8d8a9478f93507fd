"""`orch selftest`'s timing checks on a busy host (orchestrator.studies.selftest_timing): the
tolerance, the repeats and the host-busy rule, fed measured values (no run, no timing)."""

import types

import pytest
from orchestrator.results.checks import Check, progress_lines, result
from orchestrator.results.model import IterationRecord, Status, StrategyResult
from orchestrator.studies import selftest, selftest_timing
from orchestrator.studies.selftest import timing_run
from orchestrator.studies.selftest_timing import HostLoad, TimingRun, judge, median_ci, run_check

QUIET = HostLoad(cpus=2, loadavg=0.4, cpu_pressure_pct=1.0)
BUILD = HostLoad(cpus=2, loadavg=3.1, cpu_pressure_pct=1.0)  # a C++ build: load over the CPUs


def flat(value, n=12, step=0.01):
    """n values close together around `value` (a quiet host's spread)."""
    return [value + step * (k % 3) for k in range(n)]


def test_median_ci_is_the_order_statistics_interval():
    assert median_ci([float(k) for k in range(1, 13)]) == (3.0, 10.0)  # n=12: x(3), x(10)
    assert median_ci([float(k) for k in range(1, 10)]) == (2.0, 8.0)  # n=9: x(2), x(8)
    assert median_ci([5.0, 1.0, 3.0, 2.0, 4.0]) == (1.0, 5.0)  # under 6 values: the range
    assert median_ci([float(k) for k in range(1, 9)]) == (1.0, 8.0)  # n=8: P(X<=1)=3.5%: the range


def test_within_one_ms_passes():
    j = judge(50.0, TimingRun(flat(50.6), QUIET))
    assert j.passed and j.median == pytest.approx(50.61) and j.detail == "95% CI [50.600, 50.620]"


def test_a_miss_on_a_quiet_host_counts():
    j = judge(50.0, TimingRun(flat(52.584), QUIET))
    assert not j.passed and j.busy == []


def test_early_is_a_miss_too():
    j = judge(50.0, TimingRun(flat(47.0), QUIET))
    assert not j.passed and j.busy == []


def test_the_issues_miss_during_a_build_is_the_host_being_busy():
    # issue 18: `cli: median TTFT 50 ms 52.584 FAIL` while a C++ build ran
    j = judge(50.0, TimingRun(flat(52.584), BUILD))
    assert not j.passed and j.busy == ["load average 3.10 on 2 CPUs"]


def test_a_miss_smaller_than_its_own_noise_passes():
    # median 51.3, but the median's 95% CI [50.8, 52.0] reaches within 1 ms of 50
    values = [50.2, 50.5, 50.8, 51.0, 51.2, 51.3, 51.3, 51.5, 51.8, 52.0, 52.6, 53.0]
    j = judge(50.0, TimingRun(values, QUIET))
    assert j.passed and j.detail == "95% CI [50.800, 52.000]: off by +1.300 ms, within its noise"


def test_a_spread_too_wide_to_judge_is_the_host_being_busy():
    values = [50.0, 50.5, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0, 57.0, 58.0, 60.0, 70.0]
    j = judge(50.0, TimingRun(values, QUIET))
    assert not j.passed and j.busy == ["the median is known only to ±3.50 ms"]


def test_cpu_pressure_and_preemption_are_the_host_being_busy():
    host = HostLoad(cpus=2, loadavg=1.2, cpu_pressure_pct=37.4)
    j = judge(50.0, TimingRun(flat(53.0), host, preempted=4))
    assert j.busy == [
        "tasks waited for a CPU 37% of the time",
        "the worker was preempted before its first token in 4 of 12 iterations",
    ]
    assert judge(50.0, TimingRun(flat(53.0), QUIET, preempted=2)).busy == []  # 2 of 12: under a quarter


def test_nothing_measured_is_a_miss_that_no_load_excuses():
    j = judge(50.0, TimingRun([], BUILD))
    assert not j.passed and j.median is None and j.busy == []


def runs_of(*runs):
    """run_at for run_check: the k-th run, remembering which were asked for."""
    asked = []

    def run_at(k):
        asked.append(k)
        return runs[k]

    return run_at, asked


def test_a_miss_runs_again_and_a_passing_run_passes():
    run_at, asked = runs_of(TimingRun(flat(52.5), QUIET), TimingRun(flat(50.2), QUIET))
    retries = []
    out = run_check(50.0, run_at, lambda k, j: retries.append((k, j.median)))
    assert (out.result, out.attempts, asked) == ("pass", 2, [0, 1])
    assert out.measured == pytest.approx(50.21)
    assert out.detail == "95% CI [50.200, 50.220] (run 2 of 3; before: medians 52.510 ms)"
    assert retries == [(1, pytest.approx(52.51))]


def test_a_pass_runs_nothing_more():
    run_at, asked = runs_of(TimingRun(flat(50.2), QUIET))
    assert run_check(50.0, run_at).result == "pass" and asked == [0]


def test_three_misses_on_a_quiet_host_fail():
    run_at, _ = runs_of(*[TimingRun(flat(52.5), QUIET)] * 3)
    out = run_check(50.0, run_at)
    assert (out.result, out.attempts) == ("fail", 3)
    assert out.detail == "3 runs missed ±1 ms: medians 52.510, 52.510, 52.510 ms"


def test_misses_on_a_busy_host_are_inconclusive():
    run_at, _ = runs_of(TimingRun(flat(52.584), BUILD), TimingRun(flat(52.0), QUIET), TimingRun(flat(52.2), QUIET))
    out = run_check(50.0, run_at)
    assert out.result == "inconclusive"
    assert out.detail == "host busy: load average 3.10 on 2 CPUs (medians 52.594, 52.010, 52.210 ms)"


def test_an_inconclusive_check_names_what_the_last_busy_run_saw():
    pressed = HostLoad(cpus=2, loadavg=9.8, cpu_pressure_pct=99.6)
    run_at, _ = runs_of(TimingRun(flat(52.5), BUILD), TimingRun(flat(52.8), pressed), TimingRun(flat(52.1), QUIET))
    out = run_check(50.0, run_at)
    assert out.detail == (
        "host busy: load average 9.80 on 2 CPUs; tasks waited for a CPU 100% of the time "
        "(medians 52.510, 52.810, 52.110 ms)"
    )


def test_host_watch_reads_load_and_cpu_pressure(tmp_path, monkeypatch):
    psi = tmp_path / "cpu"
    psi.write_text("some avg10=1.00 avg60=0.50 avg300=0.10 total=1000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    clock = iter([100.0, 102.0])
    monkeypatch.setattr(selftest_timing, "PSI_CPU", str(psi))
    monkeypatch.setattr(selftest_timing, "time", types.SimpleNamespace(monotonic=lambda: next(clock)))
    loads = iter([(0.5, 0.4, 0.3), (2.5, 1.0, 0.4)])
    monkeypatch.setattr(selftest_timing.os, "getloadavg", lambda: next(loads))
    monkeypatch.setattr(selftest_timing, "_cpus", lambda: 2)
    watch = selftest_timing.HostWatch()
    psi.write_text("some avg10=1.00 avg60=0.50 avg300=0.10 total=1500000\n")  # 0.5 s stalled in 2 s
    assert watch.load() == HostLoad(cpus=2, loadavg=2.5, cpu_pressure_pct=25.0)


def test_host_watch_without_pressure_information(tmp_path, monkeypatch):
    monkeypatch.setattr(selftest_timing, "PSI_CPU", str(tmp_path / "missing"))
    assert selftest_timing.HostWatch().load().cpu_pressure_pct is None


# ------------------------------------------------------------------ wired into selftest
def entry(ttfts, itl=10.0, switches=None, status=Status.OK):
    its = [
        IterationRecord(
            i=k + 1,
            warmup=k < 2,
            ttft_ms=t,
            itl_ms_p50=itl,
            extra={} if switches is None else {"ttft_involuntary_switches": switches[k]},
        )
        for k, t in enumerate(ttfts)
    ]
    return StrategyResult(strategy="cli", status=status, iterations=its)


def test_timing_run_takes_measured_iterations_and_preemptions():
    run = timing_run(entry([90.0, 90.0, 50.1, 50.2, 50.3], switches=[3, 3, 0, 1, 2]), QUIET, "ttft_ms")
    assert run == TimingRun([50.1, 50.2, 50.3], QUIET, preempted=2)
    assert timing_run(entry([50.1] * 5), QUIET, "ttft_ms").preempted is None  # another program: unknown
    assert timing_run(entry([50.1] * 5, status=Status.CRASHED), QUIET, "ttft_ms").values == []


def test_one_rerun_serves_both_timing_checks():
    reruns = []

    def rerun():
        reruns.append(1)
        return entry([50.2] * 14, itl=10.0), QUIET

    echoed = []
    first = (entry([52.6] * 14, itl=12.0), QUIET)  # both TTFT and ITL missed
    ttft, itl = selftest._timing_checks("cli", first, rerun, echoed.append)
    assert (ttft.ok, itl.ok, len(reruns)) == (True, True, 1)
    assert echoed == [
        "  again cli: median TTFT 52.600 ms (95% CI [52.600, 52.600]) is not 50 ± 1 ms: run 2 of 3",
        "  again cli: median ITL 12.000 ms (95% CI [12.000, 12.000]) is not 10 ± 1 ms: run 2 of 3",
    ]


def test_an_inconclusive_timing_check_is_no_failure():
    first = (entry([52.584] * 14), BUILD)
    ttft, itl = selftest._timing_checks("cli", first, lambda: first, lambda _: None)
    assert (ttft.ok, ttft.inconclusive, ttft.failed) == (False, True, False)
    assert result(ttft) == "inconclusive" and itl.ok
    assert ttft.detail == "host busy: load average 3.10 on 2 CPUs (medians 52.584, 52.584, 52.584 ms)"


def test_the_progress_line_names_the_check_that_missed():
    # issue 18: the line said `MISS cli [leak_mb=2]: growth` when the TTFT check had failed
    checks = [
        Check("cli [leak_mb=2]: growth", "0 MB/iter", 0.0, True),
        Check("cli: median TTFT", "50 ms", 52.584, False, "3 runs missed ±1 ms: medians 52.584, 52.1, 52.3 ms"),
        Check("cli: median ITL", "10 ms", 10.0, True),
    ]
    assert progress_lines("cli [leak_mb=2]", checks) == [
        "  MISS cli: median TTFT: measured 52.584, injected 50 ms (3 runs missed ±1 ms: medians 52.584, 52.1, 52.3 ms)"
    ]
    checks[1] = Check("cli: median TTFT", "50 ms", 52.584, False, "host busy: load average 3.10 on 2 CPUs", inconclusive=True)
    assert progress_lines("cli [leak_mb=2]", checks) == [
        "  ??   cli: median TTFT: inconclusive (host busy: load average 3.10 on 2 CPUs)"
    ]
    checks[1] = Check("cli: median TTFT", "50 ms", 50.3, True)
    assert progress_lines("cli [leak_mb=2]", checks) == ["  ok   cli [leak_mb=2]: growth, median TTFT, median ITL"]
