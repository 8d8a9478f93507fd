"""The decision at the end of every comparison (`orch compare --all/--strategies`, `orch
compare --engines`): per row, safe or not and why; the fastest safe choice for the first
text (TTFT), for whole requests (latency) and for memory (peak); and which rows are too
noisy to trust. Pure functions of a RunResult: the terminal, the JSON (`decision`) and the
HTML page print the same Decision (docs/decision.md).

A row is **safe** when it finished (status ok), its memory does not grow (verdict not
`growing`) and its text did not drift under greedy decoding. A row is **noisy** when the
spread of its per-request TTFT, latency or tokens/s (interquartile range / median) passes
NOISY_SPREAD, or the host's 1-minute load average while it ran (the higher of its start
and end) passes NOISY_LOAD_PER_CPU per CPU: its figures may not repeat. A noisy row can be
chosen; the choice then says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from orchestrator.results import drift
from orchestrator.results.model import RunResult, Status, StrategyResult, Verdict

# a row's per-request TTFT, latency or tok/s with IQR / median above this is noisy (0.25: the middle
# half of the requests spans a quarter of the typical value)
NOISY_SPREAD = 0.25
# a row during which the host's 1-minute load average was above this many per CPU is noisy
# (above 1.0 runnable processes waited for a CPU: other work shared the cores)
NOISY_LOAD_PER_CPU = 1.0
# the host bandwidth probe's copies with IQR / median above this: its limit is noisy too
NOISY_PROBE_SPREAD = NOISY_SPREAD
MIN_FOR_SPREAD = 4  # fewer measured requests give no spread
# the per-request figures whose spread can make a row noisy: record field -> name in the reasons
SPREAD_FIGURES = {"ttft_ms": "TTFT", "latency_ms": "latency", "tokens_per_s": "tok/s"}


def spread(values: Sequence[float]) -> float | None:
    """Interquartile range / median; None for fewer than MIN_FOR_SPREAD values or a zero median."""
    vals = sorted(v for v in values if v is not None)
    if len(vals) < MIN_FOR_SPREAD:
        return None
    q1, med, q3 = statistics.quantiles(vals, n=4, method="inclusive")
    return (q3 - q1) / med if med > 0 else None


def label(r: StrategyResult) -> str:
    return f"{r.engine} {r.strategy}" if r.engine else r.strategy


@dataclass
class RowDecision:
    row: str
    safe: bool
    why: list[str] = field(default_factory=list)  # why it is not safe: crashed, growing, drifted
    noisy: list[str] = field(default_factory=list)  # why its figures may not repeat
    ttft_ms: float | None = None
    latency_ms: float | None = None
    peak_mb: float | None = None
    spreads: dict[str, float | None] = field(default_factory=dict)  # SPREAD_FIGURES -> IQR / median
    host_load: float | None = None


@dataclass
class Choice:
    what: str  # "first text", "whole requests", "memory"
    row: str | None  # None: no safe row has the figure
    value: float | None = None
    unit: str = ""
    noisy: bool = False  # the chosen row is noisy
    runner_up: str | None = None  # the next safe row, to see how close the choice is
    runner_up_value: float | None = None


@dataclass
class Decision:
    rows: list[RowDecision]
    choices: list[Choice]
    probe_noisy: str | None = None  # why the host bandwidth probe's figure is noisy
    bounds: dict = field(
        default_factory=lambda: {
            "noisy_spread": NOISY_SPREAD,
            "noisy_load_per_cpu": NOISY_LOAD_PER_CPU,
            "noisy_probe_spread": NOISY_PROBE_SPREAD,
        }
    )

    def to_json(self) -> dict:
        return asdict(self)


def unsafe_reasons(r: StrategyResult) -> list[str]:
    s = r.summary
    why = []
    if r.status is not Status.OK:
        why.append(str(r.status))
    if s is not None and s.verdict is Verdict.GROWING:
        rate = f" {s.growth_mb_per_iter:+.3f} MB/iter" if s.growth_mb_per_iter is not None else ""
        why.append(f"growing{rate}")
    if drift.drifted(r):
        why.append("drifted")
    return why


def noisy_reasons(spreads: dict[str, float | None], load: float | None, cpus: int | None) -> list[str]:
    out = []
    for key, value in spreads.items():
        if value is not None and value > NOISY_SPREAD:
            out.append(f"{SPREAD_FIGURES[key]} spread {value:.0%} (IQR/median > {NOISY_SPREAD:.0%})")
    if load is not None and cpus and load / cpus > NOISY_LOAD_PER_CPU:
        out.append(f"host load {load:.2f} on {cpus} CPUs")
    return out


def row_decision(r: StrategyResult, cpus: int | None) -> RowDecision:
    measured = r.measured()
    spreads = {key: spread([v for it in measured if (v := getattr(it, key)) is not None]) for key in SPREAD_FIGURES}
    load = max(r.host_load) if r.host_load else None
    why = unsafe_reasons(r)
    s = r.summary
    return RowDecision(
        row=label(r),
        safe=not why,
        why=why,
        noisy=noisy_reasons(spreads, load, cpus),
        ttft_ms=s.ttft_ms_median if s else None,
        latency_ms=s.latency_ms_median if s else None,
        peak_mb=s.rss_peak_mb if s else None,
        spreads={k: None if v is None else round(v, 4) for k, v in spreads.items()},
        host_load=load,
    )


def _best(rows: list[RowDecision], what: str, key: Callable[[RowDecision], float | None], unit: str) -> Choice:
    have = sorted(((v, d) for d in rows if d.safe and (v := key(d)) is not None), key=lambda pair: pair[0])
    if not have:
        return Choice(what, None)
    (value, d), nxt = have[0], have[1] if len(have) > 1 else (None, None)
    return Choice(what, d.row, value, unit, bool(d.noisy), nxt[1].row if nxt[1] else None, nxt[0])


def probe_noise(result: RunResult) -> str | None:
    limits = result.host_limits
    sp = limits.bandwidth_spread if limits else None
    if sp is None or sp <= NOISY_PROBE_SPREAD:
        return None
    return f"the host bandwidth probe's copies spread {sp:.0%} (IQR/median > {NOISY_PROBE_SPREAD:.0%})"


def decide(result: RunResult) -> Decision:
    """The decision for a comparison: every row that ran (skipped rows are left out)."""
    cpus = result.host.get("cpus")
    rows = [row_decision(r, cpus) for r in result.results if r.status is not Status.SKIPPED]
    choices = [
        _best(rows, "first text", lambda d: d.ttft_ms, "ms TTFT"),
        _best(rows, "whole requests", lambda d: d.latency_ms, "ms per request"),
        _best(rows, "memory", lambda d: d.peak_mb, "MB peak"),
    ]
    return Decision(rows, choices, probe_noise(result))


def lines(d: Decision) -> list[str]:
    """The decision in words, for the terminal (and the HTML page's list)."""
    out = ["decision:"]
    for row in d.rows:
        verdict = "safe" if row.safe else f"not safe ({', '.join(row.why)})"
        noisy = f"; noisy: {'; '.join(row.noisy)}" if row.noisy else ""
        out.append(f"  {row.row}: {verdict}{noisy}")
    for c in d.choices:
        if c.row is None:
            out.append(f"  fastest safe for {c.what}: none (no safe row has the figure)")
        else:
            caveat = " (noisy: run it again before relying on it)" if c.noisy else ""
            best = "smallest" if c.what == "memory" else "fastest"
            nxt = f"; next: {c.runner_up} {c.runner_up_value:.1f}" if c.runner_up and c.runner_up_value else ""
            out.append(f"  {best} safe for {c.what}: {c.row} ({c.value:.1f} {c.unit}{nxt}){caveat}")
    if d.probe_noisy:
        out.append(f"  noisy: {d.probe_noisy}; the % of limit columns move with it")
    return out


def is_comparison(result: RunResult) -> bool:
    """Several rows that ran, or a comparison of engines: what gets a decision."""
    return sum(r.status is not Status.SKIPPED for r in result.results) > 1 or any(r.engine for r in result.results)


def attach(result: RunResult) -> None:
    """The result's `decision` block, when it is a comparison (run.json, --json, history)."""
    result.decision = decide(result).to_json() if is_comparison(result) else None
