"""`orch selftest`'s timing checks, judged so that a busy host cannot fail them.

The calibration engine sleeps to its deadlines (TTFT 50 ms, a token every 10 ms); the harness
must measure them within 1 ms. On a host whose cores are taken by other work, the engine's
sleeps end late because the worker waits for a core: the harness then measures, correctly,
chunks that really came late, and a 1 ms check of the harness cannot be judged. So:

- **Noise**: the tolerance is 1 ms, widened by the measured spread: a median off by more
  than 1 ms still passes when the 95% confidence interval of the median (distribution-free,
  from the order statistics of the per-iteration values) reaches within 1 ms — the miss is
  smaller than its own noise — as long as that interval is no wider than ±`MAX_NOISE_MS`.
- **Repeats**: a check that misses runs again, up to `ATTEMPTS` runs in all; one run within
  tolerance passes it (a passing stretch is no accident, a missing one can be a spike).
- **Busy**: a run that missed counts as "host busy" when the 1-minute load average was at
  least the number of CPUs, or tasks waited for a CPU for `PRESSURE_PCT` % of the run's time
  (Linux pressure stall information, /proc/pressure/cpu), or the worker was preempted
  between request and first token in `PREEMPTED_SHARE` of the iterations (its involuntary
  context switches; in-process strategies), or the spread was wider than `MAX_NOISE_MS`.
  Every run missed and one of them on a busy host: `inconclusive (host busy: …)`, which is
  neither a pass nor a failure. Every run missed on a host that was not busy: a failure.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from scipy import stats

TOLERANCE_MS = 1.0
MAX_NOISE_MS = 2.0  # a median known no better than ±2 ms cannot judge a 1 ms tolerance
ATTEMPTS = 3
PRESSURE_PCT = 10.0
PREEMPTED_SHARE = 0.25
PSI_CPU = "/proc/pressure/cpu"


@dataclass
class HostLoad:
    """How busy the host was over one run."""

    cpus: int
    loadavg: float | None = None  # 1-minute load average, the higher of the run's start and end
    cpu_pressure_pct: float | None = None  # % of the run some task waited for a CPU; None: no PSI


def _cpu_stall_us() -> int | None:
    """Microseconds some task has waited for a CPU since boot (PSI), None where the kernel
    does not say (no CONFIG_PSI, not Linux)."""
    try:
        with open(PSI_CPU, encoding="ascii") as f:
            some = f.readline().split()
        return int(dict(kv.split("=") for kv in some[1:])["total"])
    except (OSError, KeyError, ValueError, IndexError):
        return None


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class HostWatch:
    """Started before a run, read after it: the host's load over the run."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.stall0 = _cpu_stall_us()
        self.load0 = _loadavg()

    def load(self) -> HostLoad:
        wall_us = (time.monotonic() - self.t0) * 1e6
        stall1 = _cpu_stall_us()
        pressure = None
        if self.stall0 is not None and stall1 is not None and wall_us > 0:
            pressure = min(100.0, 100.0 * (stall1 - self.stall0) / wall_us)
        loads = [v for v in (self.load0, _loadavg()) if v is not None]
        return HostLoad(cpus=_cpus(), loadavg=max(loads) if loads else None, cpu_pressure_pct=pressure)


@dataclass
class TimingRun:
    """One run's figures for a timing check: the per-iteration values (ms, measured
    iterations), how many of those iterations the worker was preempted in before its first
    token (None: not known, e.g. the engine is another program), and the host's load."""

    values: list[float]
    host: HostLoad
    preempted: int | None = None


@dataclass
class Judgement:
    """One run judged: `passed`, or a miss, with what made the host too busy to tell (empty:
    the host was not busy, the miss counts)."""

    passed: bool
    median: float | None
    ci: tuple[float, float] | None
    detail: str
    busy: list[str] = field(default_factory=list)


def median_ci(values: list[float]) -> tuple[float, float]:
    """The distribution-free 95% confidence interval of the median: the order statistics
    x(k) and x(n-k+1) with the largest k for which P(Binomial(n, 1/2) < k) <= 2.5%. Under 6
    values no k qualifies, and the interval is the range."""
    xs = sorted(values)
    n = len(xs)
    k = 0
    while k + 1 <= n // 2 and stats.binom.cdf(k, n, 0.5) <= 0.025:
        k += 1
    if k == 0:
        return xs[0], xs[-1]
    return xs[k - 1], xs[n - k]


def busy_reasons(run: TimingRun, noise_ms: float | None) -> list[str]:
    """What made the host too busy to judge a 1 ms timing; empty when nothing did."""
    reasons = []
    host = run.host
    if host.loadavg is not None and host.loadavg >= host.cpus:
        reasons.append(f"load average {host.loadavg:.2f} on {host.cpus} CPUs")
    if host.cpu_pressure_pct is not None and host.cpu_pressure_pct >= PRESSURE_PCT:
        reasons.append(f"tasks waited for a CPU {host.cpu_pressure_pct:.0f}% of the time")
    n = len(run.values)
    if run.preempted is not None and n and run.preempted >= PREEMPTED_SHARE * n:
        reasons.append(f"the worker was preempted before its first token in {run.preempted} of {n} iterations")
    if noise_ms is not None and noise_ms > MAX_NOISE_MS:
        reasons.append(f"the median is known only to ±{noise_ms:.2f} ms")
    return reasons


def judge(injected: float, run: TimingRun) -> Judgement:
    """One run against the injected value (see the module's docstring)."""
    if not run.values:
        return Judgement(False, None, None, "no iteration measured it")
    median = statistics.median(run.values)
    lo, hi = median_ci(run.values)
    noise = (hi - lo) / 2
    off = median - injected
    within_noise = lo - injected <= TOLERANCE_MS and hi - injected >= -TOLERANCE_MS and noise <= MAX_NOISE_MS
    detail = f"95% CI [{lo:.3f}, {hi:.3f}]"
    if abs(off) <= TOLERANCE_MS:
        return Judgement(True, median, (lo, hi), detail)
    if within_noise:
        return Judgement(True, median, (lo, hi), detail + f": off by {off:+.3f} ms, within its noise")
    return Judgement(False, median, (lo, hi), detail, busy_reasons(run, noise))


@dataclass
class TimingOutcome:
    """A timing check's end: `pass`, `fail` or `inconclusive`, the figure reported (the
    passing run's median, else the last run's), and why."""

    result: str
    measured: float | None
    detail: str
    attempts: int


def run_check(injected: float, run_at: Callable[[int], TimingRun], on_retry=None) -> TimingOutcome:
    """Judge runs 0, 1, … (`run_at(k)` measures the k-th, the first one given) until one
    passes or `ATTEMPTS` have missed; `on_retry(k, judgement)` is told before run k."""
    misses: list[Judgement] = []
    for k in range(ATTEMPTS):
        j = judge(injected, run_at(k))
        if j.passed:
            again = f" (run {k + 1} of {ATTEMPTS}; before: {_medians(misses)})" if misses else ""
            return TimingOutcome("pass", j.median, j.detail + again, k + 1)
        misses.append(j)
        if k + 1 < ATTEMPTS and on_retry is not None:
            on_retry(k + 1, j)
    last = misses[-1]
    busy = [j for j in misses if j.busy]
    if busy:  # what the last busy run saw (each run's would say much the same)
        reasons = "; ".join(busy[-1].busy)
        return TimingOutcome("inconclusive", last.median, f"host busy: {reasons} ({_medians(misses)})", ATTEMPTS)
    return TimingOutcome(
        "fail", last.median, f"{ATTEMPTS} runs missed ±{TOLERANCE_MS:g} ms: {_medians(misses)}", ATTEMPTS
    )


def _medians(judgements: list[Judgement]) -> str:
    return "medians " + ", ".join("-" if j.median is None else f"{j.median:.3f}" for j in judgements) + " ms"
