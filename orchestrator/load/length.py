"""How long a load level runs (`orch load --min-requests N --min-duration S`): a floor, not
a fixed length. A level under a floor keeps sending until N requests that will be answered
(sent and not dropped) are out and S seconds have passed since its first send; then those
sent run to their end, so the level ends with at least N requests completed (ok, failed or
timed out) over at least S seconds. `--requests N` and `--duration S` still fix a level's
length exactly; the two kinds are not given together (load.cli_inputs).

The default floor is the fewest requests a p90 claim needs (MLPerf LoadGen's early-stopping
rule at 99% confidence, results.early_stopping: 64), so a level left to its defaults can show
its p90 — and a sweep's levels, sized the same way, can too. A level that ends short of its
floor (Ctrl-C, a sweep level stopped over-saturated, a server's request bound) says so."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.results import early_stopping

CLAIM_P = 0.9  # the claim the default floor lets stand: p90
DEFAULT_MIN_REQUESTS = early_stopping.min_requests(CLAIM_P)


@dataclass(frozen=True)
class Floor:
    requests: int = DEFAULT_MIN_REQUESTS  # requests completed, at least
    seconds: float = 0.0  # seconds from the level's first send, at least

    def __post_init__(self) -> None:
        if self.requests < 1:
            raise ValueError(f"--min-requests must be >= 1 (got {self.requests})")
        if self.seconds < 0:
            raise ValueError(f"--min-duration must be >= 0 (got {self.seconds:g})")

    def met(self, counted: int, elapsed: float) -> bool:
        """Enough requests out (`counted`: sent, not dropped) and enough seconds."""
        return counted >= self.requests and elapsed >= self.seconds

    def verdict(self, completed: int, elapsed: float) -> dict:
        """The level against its floor: what it reached, whether that meets it, and if not why
        its claims are short (`why`)."""
        met = self.met(completed, elapsed)
        short = []
        if completed < self.requests:
            short.append(f"{completed} of {self.requests} requests completed (--min-requests)")
        if elapsed < self.seconds:
            short.append(f"{elapsed:.1f} of {self.seconds:g} s (--min-duration)")
        claim = f"p{CLAIM_P * 100:g}"
        why = None
        if short:
            needs = early_stopping.min_requests(CLAIM_P)
            tail = f"; a {claim} claim needs {needs}" if completed < needs else ""
            why = f"too short for its claims: {', '.join(short)}{tail}"
        return {
            "min_requests": self.requests,
            "min_duration_s": self.seconds,
            "completed": completed,
            "elapsed_s": round(elapsed, 3),
            "met": met,
            "why": why,
        }

    def describe(self) -> str:
        extra = f" and {self.seconds:g} s" if self.seconds else ""
        return f"at least {self.requests} requests{extra} a level"
