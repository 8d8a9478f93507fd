"""What queueing theory expects a FCFS queue in front of `servers` identical workers to wait
(the calibration of orch load: measured waits against these).

- `mean_wait_s`: the Allen-Cunneen formula, Wq = (c_a^2 + c_s^2)/2 x Wq(M/M/c) with
  Wq(M/M/c) from Erlang C. It is exact for M/M/c and for M/D/1 (c_a^2 = 1, c_s^2 = 0:
  rho D / (2 (1 - rho))), and an approximation for M/D/c (within a few percent at the loads
  used here) and G/G/c. D/D/c (constant arrivals, fixed service) below capacity waits 0.
- `replay_waits`: the waits one particular arrival sequence and service times give (Lindley's
  recursion, generalized to c servers: each request goes to the first server free). A
  harness that adds no delay of its own reproduces them request by request.
"""

from __future__ import annotations

import heapq
import math


def erlang_c(servers: int, offered: float) -> float:
    """Probability that an arrival waits in M/M/c with `offered` = lambda/mu erlangs (< c)."""
    c, a = servers, offered
    term, total = 1.0, 1.0  # a^k / k!, summed for k < c
    for k in range(1, c):
        term *= a / k
        total += term
    top = term * a / c / (1 - a / c)  # a^c / c! x c / (c - a)
    return top / (total + top)


def mean_wait_s(rate: float, service_s: float, servers: int = 1, ca2: float = 1.0, cs2: float = 0.0) -> float:
    """Expected mean queue wait (s); math.inf at or above capacity (rate x service >= servers)."""
    offered = rate * service_s
    if offered >= servers:
        return math.inf
    if ca2 == 0 and cs2 == 0:
        return 0.0  # D/D/c below capacity
    wq_mmc = erlang_c(servers, offered) * service_s / (servers - offered)
    return (ca2 + cs2) / 2 * wq_mmc


def replay_waits(arrivals: list[float], services: list[float], servers: int = 1) -> list[float]:
    """The queue wait of each request (s) when requests arriving at `arrivals` (sorted) take
    `services` seconds each and go, first come first served, to the first of `servers` free."""
    free = [0.0] * servers  # when each server is next free (a heap)
    waits = []
    for t, s in zip(arrivals, services, strict=True):
        start = max(t, heapq.heappop(free))
        waits.append(start - t)
        heapq.heappush(free, start + s)
    return waits
