"""Per-request records and per-level statistics of orch load.

Clocks: every time here is CLOCK_MONOTONIC seconds. `scheduled`, `sent`, `dispatched` and
`freed` are the parent's stamps; `t_request`, `t_first` and `t_end` are the worker's (its
own stamps the moment the engine started, its first chunk arrived, it returned: protocol).
On Linux time.monotonic() is one system-wide clock, so the two are subtracted directly.

A request's arrival is when the generator put it in the queue (`sent`); its lateness is
`sent - scheduled` (the generator's own error, reported apart). Queue wait: `dispatched -
sent`. TTFT from arrival: `t_first - sent`; from dispatch: `t_first - dispatched`. Latency:
`t_end - sent`. RTF: latency / audio seconds (what a caller waits per second of audio).
ITL: the request's mean gap between chunks. Service: `freed - dispatched` (how long the
request held its worker, as the queue sees it).

Statuses: ok, failed (the worker erred or died), timed_out (over --request-timeout; the
worker was killed), dropped (the queue was full), cancelled (Ctrl-C: queued or running when
the level was stopped). Every sent request has exactly one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from orchestrator.load.arrivals import Arrivals, OpenLoop
from orchestrator.results import early_stopping
from orchestrator.results.load_run import SUSTAINED_SLO_SHARE

STATUSES = ("ok", "failed", "timed_out", "dropped", "cancelled")

# a level whose generator was later than this at p99 is invalid (--max-lateness-ms)
DEFAULT_MAX_LATENESS_MS = 10.0
# saturation: queue wait must rise at least this much over the level (and 4 service times)
MIN_RISE_MS = 500.0
RISE_SERVICES = 4.0
SATURATION_MIN_POINTS = 8
_FIT_POINTS = 400  # Theil-Sen is quadratic in points: a longer level is thinned evenly


@dataclass
class RequestRecord:
    i: int  # run-wide request number, from 1
    level: int  # level index, from 0
    warmup: bool
    audio: str | None
    audio_s: float | None
    scheduled: float
    sent: float
    status: str = "cancelled"
    worker: str | None = None
    dispatched: float | None = None
    t_request: float | None = None
    t_first: float | None = None
    t_end: float | None = None
    freed: float | None = None
    tokens: int = 0
    itl_ms: float | None = None
    text: str = ""
    error: str | None = None
    streamed: bool | None = None  # a server target: whether the answer came as a stream (else TTFT = latency)

    @property
    def key(self) -> tuple[str, int]:
        return ("request", self.i)

    @staticmethod
    def _ms(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else (b - a) * 1000

    @property
    def lateness_ms(self) -> float:
        return (self.sent - self.scheduled) * 1000

    @property
    def queue_wait_ms(self) -> float | None:
        return self._ms(self.sent, self.dispatched)

    @property
    def ttft_ms(self) -> float | None:
        return self._ms(self.sent, self.t_first)

    @property
    def ttft_dispatch_ms(self) -> float | None:
        return self._ms(self.dispatched, self.t_first)

    @property
    def latency_ms(self) -> float | None:
        return self._ms(self.sent, self.t_end) if self.status == "ok" else None

    @property
    def service_ms(self) -> float | None:
        return self._ms(self.dispatched, self.freed)

    @property
    def rtf(self) -> float | None:
        lat = self.latency_ms
        return None if lat is None or not self.audio_s else lat / 1000 / self.audio_s

    @property
    def ended(self) -> float:
        """When the request was over for the level (its worker free, or when it was sent)."""
        return self.freed if self.freed is not None else self.sent

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("lateness_ms", "queue_wait_ms", "ttft_ms", "ttft_dispatch_ms", "latency_ms", "service_ms", "rtf"):
            value = getattr(self, name)
            out[name] = None if value is None else round(value, 4)
        return out


def itl_ms(token_times: list[float]) -> float | None:
    """The mean gap between a request's chunks (ms); None with fewer than two."""
    if len(token_times) < 2:
        return None
    return (token_times[-1] - token_times[0]) / (len(token_times) - 1) * 1000


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of nothing")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class Percentiles:
    """p50 (the median) and the p90/p99 claims of one figure over a level's requests: each the
    early-stopping conservative estimate (results.early_stopping, MLPerf LoadGen's rule at 99%
    confidence) or None when the count cannot support it (p90 needs 64 requests, p99 662)."""

    p50: float
    p90: float | None
    p99: float | None
    n: int

    @classmethod
    def of(cls, values: list[float | None]) -> Percentiles | None:
        vals = [v for v in values if v is not None]
        if not vals:
            return None
        p90, p99 = (early_stopping.estimate(vals, q).value for q in (0.9, 0.99))
        return cls(percentile(vals, 50), p90, p99, len(vals))


SLO_TERMS = ("ttft_ms", "ttft_dispatch_ms", "itl_ms", "latency_ms", "queue_wait_ms", "rtf")


@dataclass(frozen=True)
class Slo:
    """Bounds a request must all meet to count towards goodput (`ttft_ms=1000,rtf=0.5`)."""

    bounds: tuple[tuple[str, float], ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> Slo:
        """ValueError names the bad term."""
        if not text:
            return cls()
        bounds = []
        for term in text.split(","):
            name, eq, value = term.strip().partition("=")
            if not eq or name not in SLO_TERMS:
                raise ValueError(f"SLO term {term.strip()!r}: write NAME=NUMBER, NAME one of {', '.join(SLO_TERMS)}")
            try:
                bound = float(value)
            except ValueError:
                raise ValueError(f"SLO term {term.strip()!r}: {value!r} is not a number") from None
            if not bound > 0:
                raise ValueError(f"SLO term {term.strip()!r}: the bound must be > 0")
            bounds.append((name, bound))
        return cls(tuple(bounds))

    def met(self, rec: RequestRecord) -> bool:
        if rec.status != "ok":
            return False
        for name, bound in self.bounds:
            value = getattr(rec, name)
            if value is None or value > bound:
                return False
        return True

    def describe(self) -> str:
        return ",".join(f"{k}={v:g}" for k, v in self.bounds)


@dataclass(frozen=True)
class Saturation:
    """Queue wait against arrival time over the level: Theil-Sen slope (ms of wait per s)
    with its 95% CI, and the rise it makes over the level's span. Saturated: the CI lies
    above 0 and the rise is at least `bound_ms` (MIN_RISE_MS, and RISE_SERVICES median
    service times) — a stable queue's waits wander, an overloaded one's keep climbing — or
    the queue overflowed (a request was dropped)."""

    slope_ms_per_s: float | None
    ci: tuple[float, float] | None
    rise_ms: float | None
    bound_ms: float
    saturated: bool
    why: str


def saturation(records: list[RequestRecord], dropped: int = 0) -> Saturation:
    points = sorted((r.sent, r.queue_wait_ms) for r in records if r.queue_wait_ms is not None)
    services = [s for r in records if (s := r.service_ms) is not None]
    bound = max(MIN_RISE_MS, RISE_SERVICES * percentile(services, 50)) if services else MIN_RISE_MS
    if dropped:
        return Saturation(None, None, None, bound, True, f"the queue overflowed: {dropped} dropped")
    if len(points) < SATURATION_MIN_POINTS:
        return Saturation(None, None, None, bound, False, f"too few requests to tell ({len(points)})")
    if len(points) > _FIT_POINTS:
        step = len(points) / _FIT_POINTS
        points = [points[int(k * step)] for k in range(_FIT_POINTS)]
    from orchestrator.results.analysis import slope_ci  # numpy/scipy: when a level is analysed

    xs = [t - points[0][0] for t, _ in points]
    fit = slope_ci(xs, [w for _, w in points])
    if fit is None:  # the points fell on fewer than 3 distinct times: no slope to judge
        return Saturation(None, None, None, bound, False, f"too few requests to tell ({len(points)})")
    slope, lo, hi = fit
    rise = slope * (xs[-1] - xs[0])
    saturated = lo > 0 and rise >= bound
    if saturated:
        why = f"queue wait rose {rise:.0f} ms over the level ({slope:.0f} ms/s, CI {lo:.0f}..{hi:.0f})"
    elif lo > 0:
        why = f"queue wait rose {rise:.0f} ms, under the {bound:.0f} ms bound"
    else:
        why = "queue wait did not keep rising"
    return Saturation(slope, (lo, hi), rise, bound, saturated, why)


@dataclass
class Latencies:
    queue_wait_ms: Percentiles | None
    ttft_ms: Percentiles | None
    ttft_dispatch_ms: Percentiles | None
    itl_ms: Percentiles | None
    latency_ms: Percentiles | None
    rtf: Percentiles | None
    service_ms: Percentiles | None


@dataclass
class MemoryGrowth:
    """Memory (tree RSS, MB) per thousand requests, Theil-Sen slope with its 95% CI."""

    who: str  # a worker slot's name, or "pool"
    mb_per_1000: float
    ci: tuple[float, float]
    requests: int
    samples: int
    # the (finished requests, MB) points fitted (thinned to at most 400): the report draws them
    points: list[tuple[int, float]] = field(default_factory=list)


@dataclass
class LevelStats:
    level: int
    arrivals: str  # Arrivals.describe()
    offered_rate: float | None  # open loop's rate; None for a closed loop
    sent: int
    ok: int
    failed: int
    timed_out: int
    dropped: int
    cancelled: int
    accounted: bool  # sent == ok + failed + timed_out + dropped + cancelled
    duration_s: float
    throughput_rps: float
    audio_s_per_s: float | None
    slo: str
    goodput_rps: float | None  # None without an SLO
    latencies: Latencies
    lateness_ms: Percentiles | None  # open loop only: a closed loop sends when one ends
    valid: bool
    invalid_reason: str | None
    saturation: Saturation
    memory: list[MemoryGrowth] = field(default_factory=list)
    stopped_early: str | None = None  # why the level stopped sending before its end (a sweep's over-saturation)
    streamed: int | None = None  # a server target: how many ok answers came as a stream (None: workers)
    # under an SLO: "at least SUSTAINED_SLO_SHARE of requests meet it" by the early-stopping test
    slo_claim: dict | None = None
    # texts against the reference pass's (load.output_checks): {compared, drifted, examples}
    drift_under_load: dict | None = None
    # the workers' CPU seconds over the level's measured requests (trees, and the workers
    # reaped meanwhile); None where orch does not run the workers (a server target)
    cpu_s: float | None = None
    # a level under a floor (--min-requests/--min-duration, load.length): what it reached and
    # whether that meets the floor, `why` when it ended short; None for a fixed length
    floor: dict | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def slo_claim(recs: list[RequestRecord], slo: Slo) -> dict | None:
    """Whether the level shows, at 99% confidence, that SUSTAINED_SLO_SHARE of its requests meet
    the SLO (a request that failed, timed out or was dropped counts as over); None without one."""
    if not slo.bounds:
        return None
    judged = [r for r in recs if r.status != "cancelled"]  # Ctrl-C's: never answered, never judged
    over = sum(not slo.met(r) for r in judged)
    claim = early_stopping.bound_claim(len(judged), over, SUSTAINED_SLO_SHARE)
    return {**claim.to_json(), "more": claim.more, "why": claim.describe()}


def _late(lates: list[float], max_lateness_ms: float) -> str | None:
    """Why the level is invalid: the generator's own check, every value counts; None: on time."""
    late_p99 = percentile(lates, 99) if lates else 0.0
    if late_p99 > max_lateness_ms:
        return (
            f"the generator was late by {late_p99:.1f} ms at p99, over the {max_lateness_ms:g} ms bound: "
            "the host could not keep the schedule"
        )
    return None


def level_stats(
    level: int,
    arrivals: Arrivals,
    records: list[RequestRecord],
    slo: Slo,
    max_lateness_ms: float = DEFAULT_MAX_LATENESS_MS,
) -> LevelStats:
    """Statistics of one level's measured (not warm-up) requests."""
    recs = [r for r in records if not r.warmup and r.level == level]
    counts = {s: sum(r.status == s for r in recs) for s in STATUSES}
    ok = [r for r in recs if r.status == "ok"]
    start = min((r.sent for r in recs), default=0.0)
    end = max((r.ended for r in recs), default=start)
    duration = max(end - start, 1e-9)
    audio = [r.audio_s for r in ok]
    audio_rate = sum(a for a in audio if a) / duration if ok and all(audio) else None
    open_loop = isinstance(arrivals, OpenLoop)
    lates = [r.lateness_ms for r in recs] if open_loop else []
    lateness = Percentiles.of(list(lates)) if open_loop else None
    invalid = _late(lates, max_lateness_ms)

    def pct(name: str) -> Percentiles | None:
        return Percentiles.of([getattr(r, name) for r in recs if r.status in ("ok", "failed", "timed_out")])

    return LevelStats(
        level=level,
        arrivals=arrivals.describe(),
        offered_rate=arrivals.rate if isinstance(arrivals, OpenLoop) else None,
        sent=len(recs),
        ok=counts["ok"],
        failed=counts["failed"],
        timed_out=counts["timed_out"],
        dropped=counts["dropped"],
        cancelled=counts["cancelled"],
        accounted=len(recs) == sum(counts.values()),
        duration_s=duration,
        throughput_rps=len(ok) / duration,
        audio_s_per_s=audio_rate,
        slo=slo.describe(),
        goodput_rps=sum(slo.met(r) for r in recs) / duration if slo.bounds else None,
        slo_claim=slo_claim(recs, slo),
        latencies=Latencies(
            queue_wait_ms=pct("queue_wait_ms"),
            ttft_ms=Percentiles.of([r.ttft_ms for r in ok]),
            ttft_dispatch_ms=Percentiles.of([r.ttft_dispatch_ms for r in ok]),
            itl_ms=Percentiles.of([r.itl_ms for r in ok]),
            latency_ms=Percentiles.of([r.latency_ms for r in ok]),
            rtf=Percentiles.of([r.rtf for r in ok]),
            service_ms=pct("service_ms"),
        ),
        lateness_ms=lateness,
        valid=invalid is None,
        invalid_reason=invalid,
        saturation=saturation(recs, counts["dropped"]),
        streamed=sum(bool(r.streamed) for r in ok) if any(r.streamed is not None for r in ok) else None,
    )
