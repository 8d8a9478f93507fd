"""Percentile claims that the count supports: MLPerf LoadGen's early-stopping rule, in our words.

A latency percentile over n requests is a claim about the service, not about those n. LoadGen
(`loadgen/early_stopping.cc`, `results.cc`) judges it with a one-sided binomial test at 99%
confidence: if the true share of requests under a bound were below the percentile p, how likely
would it be to see at most t requests over the bound among h + t? Below 1 - confidence, the claim
stands. From that test come three things orch reports:

- `min_requests(p)`: the fewest requests for any p-percentile estimate (64 for p90, 662 for p99);
- `estimate(values, p)`: the conservative estimate, the (t)-th highest value where t is the most
  slow requests the test allows to be set aside (discarding the t - 1 above it), or a refusal
  that says how many requests it needed;
- `bound_claim(n, over, p)`: whether "at least a share p of the requests meet a bound" holds with
  `over` of n over it (LoadGen's server scenario), and if not, how many more requests (all
  meeting the bound) would make it hold — 459 passing with none over for p99.

Pure Python (log-space binomial sums), so that the tests can check it against scipy's binomial.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

CONFIDENCE = 0.99  # LoadGen's
TOLERANCE = 0.0  # LoadGen's `d`: the percentile is judged as given


def binom_cdf(k: int, n: int, q: float) -> float:
    """P(X <= k) for X ~ Binomial(n, q), summed in log space (n up to millions)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    if q <= 0.0:
        return 1.0
    if q >= 1.0:
        return 0.0
    lq, lp = math.log(q), math.log1p(-q)
    terms = [
        math.lgamma(n + 1) - math.lgamma(x + 1) - math.lgamma(n - x + 1) + x * lq + (n - x) * lp for x in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * math.fsum(math.exp(t - top) for t in terms))


def odds(h: int, t: int, p: float, d: float = TOLERANCE) -> float:
    """The chance of t or fewer over-bound requests among h + t if a request is over the bound
    with probability 1 - (p - d): LoadGen's `odds`, BetaRegularized[p - d, h, 1 + t]."""
    return binom_cdf(t, h + t, 1.0 - (p - d))


@lru_cache(maxsize=4096)
def min_passing(t: int, p: float, d: float = TOLERANCE, c: float = CONFIDENCE) -> int:
    """The fewest requests h under the bound that, with t over it, make odds(h, t) < 1 - c."""
    lo, hi = 1, 1
    while odds(hi, t, p, d) >= 1 - c:  # odds fall as h grows: find an h that passes
        lo, hi = hi + 1, hi * 2
    while lo < hi:  # the first passing h in [lo, hi]
        mid = (lo + hi) // 2
        if odds(mid, t, p, d) < 1 - c:
            hi = mid
        else:
            lo = mid + 1
    return lo


def min_requests(p: float) -> int:
    """The fewest requests for any early-stopping estimate of the p-percentile (LoadGen: h_min + 1)."""
    return min_passing(1, p) + 1


@dataclass(frozen=True)
class Estimate:
    """A p-percentile over n requests: the conservative value, or None and what it needed."""

    p: float  # 0.9 for p90
    n: int
    needs: int  # min_requests(p)
    value: float | None  # None: n < needs
    discarded: int = 0  # slowest requests the test allowed to set aside

    @property
    def supported(self) -> bool:
        return self.value is not None

    def describe(self, fmt: str = "{:.0f}") -> str:
        """The value, or why there is none: `n=100, needs >= 662`."""
        if self.value is None:
            return f"n={self.n}, needs ≥ {self.needs}"
        return fmt.format(self.value)

    def to_json(self) -> dict:
        return {"p": self.p, "n": self.n, "needs": self.needs, "value": self.value, "discarded": self.discarded}


def estimate(values: list[float], p: float) -> Estimate:
    """LoadGen's single-stream estimate: the largest t with n >= min_passing(t) + t; the value is
    the t-th highest (sorted[n - t]), so t - 1 of the slowest are set aside."""
    n, needs = len(values), min_requests(p)
    if n < needs:
        return Estimate(p, n, needs, None)
    lo, hi = 1, n  # h(t) + t grows with t: the largest t with n >= h(t) + t, by bisection
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if n >= min_passing(mid, p) + mid:
            lo = mid
        else:
            hi = mid - 1
    t = lo
    xs = sorted(values)
    return Estimate(p, n, needs, xs[n - t], t - 1)


@dataclass(frozen=True)
class BoundClaim:
    """At least a share p of requests meet the bound", judged over n with `over` failing it."""

    p: float
    n: int
    over: int
    required: int  # requests the claim needs with this many over: min_passing(over) + over

    @property
    def holds(self) -> bool:
        return self.n >= self.required

    @property
    def more(self) -> int:
        """Requests still needed, every one of them meeting the bound (0 when it holds)."""
        return max(0, self.required - self.n)

    def describe(self) -> str:
        share = f"p{self.p * 100:g}"
        if self.holds:
            return f"{share} holds: {self.over} of {self.n} over (≤ {self.required} requests needed)"
        return f"{share} not shown: {self.over} of {self.n} over; needs {self.more} more requests, all within"

    def to_json(self) -> dict:
        return {"p": self.p, "n": self.n, "over": self.over, "required": self.required, "holds": self.holds}


def bound_claim(n: int, over: int, p: float) -> BoundClaim:
    return BoundClaim(p, n, over, min_passing(over, p) + over)
