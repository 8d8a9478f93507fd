"""The table of `orch load --engines A,B` (orchestrator.studies.load_engines): one row per
engine, from each engine's own load run (LoadRun), every figure's name, unit and rounding
from results.figures:

- the max sustainable rate (LoadRun.max_sustainable_rate) and its confidence: under an SLO,
  the early-stopping claim of the level at that rate (results.early_stopping: "at least 90%
  within the SLO" at 99% confidence); no rate and a level too short for its claim is "not
  supported", saying what it needed;
- latency p50/p90 (p99 where the count supports it) at 50%, 70% and 90% of that rate: the
  open-loop level nearest each target, said when it is not within NEAR_SHARE of the rate
  of the target;
- memory per 1000 requests and CPU cost (core-h per audio-h) of the level at the max
  sustainable rate (else the level that completed the most requests), which the last
  column names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.results import early_stopping, figures
from orchestrator.results.load_run import MIN_GROWTH_REQUESTS, LoadLevel, LoadRun, Pct
from orchestrator.results.tabular import render_table

FRACTIONS = (0.5, 0.7, 0.9)  # of the max sustainable rate, where latency is read
NEAR_SHARE = 0.1  # a level within this share of the max sustainable rate of a target is "at" it

RATE = figures.load("offered_rate")
LATENCY = figures.load("latency_ms")
MEMORY = figures.load("mb_per_1000")
CPU_COST = figures.load("core_h_per_audio_h")


@dataclass
class EngineLoadRow:
    """One engine's part: its label (the engine, `-2` for a second run of it), its run (None:
    it did not start) and what went wrong."""

    label: str
    engine: str
    model: str | None
    run: LoadRun | None
    error: str | None = None
    run_dir: str | None = None


def headers() -> list[str]:
    p = "p50/p90"
    return [
        "engine",
        f"max sustainable {RATE.unit}",
        "confidence",
        *(f"{LATENCY.label} {p} @{f:.0%}" for f in FRACTIONS),
        MEMORY.label,
        CPU_COST.label,
        "memory and CPU at",
    ]


def _rate_text(rate: float | None) -> str:
    return f"{RATE.cell(rate):g}/s" if rate is not None else "-"


def _open_levels(run: LoadRun) -> list[LoadLevel]:
    return sorted((lv for lv in run.levels if lv.offered_rate is not None), key=lambda lv: lv.offered_rate or 0.0)


def confidence(run: LoadRun) -> str:
    """How far the max sustainable rate is shown: the SLO claim of its level, or why there is
    none (the first level from the lowest that was not sustained, and what held it back)."""
    rate = run.max_sustainable_rate
    levels = _open_levels(run)
    if rate is not None:
        top = next(lv for lv in levels if lv.offered_rate == rate)
        claim = top.other.get("slo_claim")
        said = (
            f"p{claim['p'] * 100:g} in SLO at 99% ({claim['over']} of {claim['n']} over)"
            if isinstance(claim, dict) and {"p", "over", "n"} <= claim.keys()
            else "no --slo: not saturated, none failed"
        )
        floor = top.floor
        return said + (f"; {floor['why']}" if floor and not floor.get("met", True) else "")
    first = next((lv for lv in levels if not lv.sustained), None)
    if first is None:
        return "no open-loop level"
    claim = first.other.get("slo_claim")
    where = _rate_text(first.offered_rate)
    if isinstance(claim, dict) and not claim.get("holds") and claim.get("more"):
        return f"not supported: at {where} {claim.get('over')} of {claim.get('n')} over, needs {claim['more']} more"
    why = (
        first.invalid_reason
        if not first.valid
        else first.saturation_why
        if first.saturated
        else "requests failed, timed out or were dropped"
        if first.failed or first.timed_out or first.dropped
        else (claim or {}).get("why", "not sustained")
    )
    return f"none: at {where} {why}"


def latency_text(pct: Pct | None) -> str | None:
    """p50/p90 in the latency figure's unit, p99 where the count supports it; a p90 the count
    cannot support is `-` with the count it needed."""
    if pct is None:
        return None
    p50, p90 = LATENCY.cell(pct.p50), LATENCY.cell(pct.p90)
    text = f"{p50:.{LATENCY.nd}f}/" + (f"{p90:.{LATENCY.nd}f}" if p90 is not None else "-")
    text += f" {LATENCY.unit}"
    if pct.p99 is not None:
        text += f", p99 {LATENCY.cell(pct.p99):.{LATENCY.nd}f}"
    if pct.p90 is None:
        text += f" (n={pct.n}, p90 needs ≥ {early_stopping.min_requests(0.9)})"
    return text


def at_fraction(run: LoadRun, fraction: float) -> tuple[LoadLevel | None, bool]:
    """The open-loop level nearest `fraction` of the max sustainable rate, and whether it is
    near (within NEAR_SHARE of the rate); (None, False) without a rate."""
    rate = run.max_sustainable_rate
    levels = _open_levels(run)
    if rate is None or not levels:
        return None, False
    target = fraction * rate
    nearest = min(levels, key=lambda lv: abs((lv.offered_rate or 0.0) - target))
    return nearest, abs((nearest.offered_rate or 0.0) - target) <= NEAR_SHARE * rate


def _fraction_cell(run: LoadRun, fraction: float) -> str | None:
    level, near = at_fraction(run, fraction)
    if level is None:
        return None
    text = latency_text(level.latency_ms)
    if text is None:
        return None
    return text if near else f"{text} (at {_rate_text(level.offered_rate)}, the nearest level)"


def reference_level(run: LoadRun) -> LoadLevel | None:
    """The level memory and CPU are read at: the max sustainable rate's, else the level that
    completed the most requests."""
    rate = run.max_sustainable_rate
    if rate is not None:
        return next(lv for lv in run.levels if lv.offered_rate == rate)
    return max(run.levels, key=lambda lv: lv.ok + lv.failed + lv.timed_out, default=None)


def memory_text(level: LoadLevel | None) -> str | None:
    fit = level.pool_memory if level is not None else None
    if fit is None:
        return None
    if not fit.enough:
        return f"too few requests ({fit.requests}; {MIN_GROWTH_REQUESTS} needed)"
    return f"{MEMORY.cell(fit.mb_per_1000):+.{MEMORY.nd}f}"


def row(item: EngineLoadRow) -> list[Any]:
    run = item.run
    if run is None or not run.levels:
        return [item.label, None, f"error: {item.error}" if item.error else "no level ran", None, None, None]
    level = reference_level(run)
    cost = CPU_COST.of(level)
    return [
        item.label,
        RATE.cell(run.max_sustainable_rate),
        confidence(run),
        *(_fraction_cell(run, f) for f in FRACTIONS),
        memory_text(level),
        CPU_COST.cell(cost) if cost is not None else None,
        level.arrivals if level is not None else None,
    ]


def table(items: list[EngineLoadRow], fmt: str = "table") -> str:
    rows = [row(item) for item in items]
    width = len(headers())
    return render_table(headers(), [r + [None] * (width - len(r)) for r in rows], fmt)


def _pct_json(pct: Pct | None) -> dict | None:
    return None if pct is None else {"p50": pct.p50, "p90": pct.p90, "p99": pct.p99, "n": pct.n}


def to_json(item: EngineLoadRow) -> dict[str, Any]:
    """The engine's entry of the `engines` section (`--json`): the figures of its row, by name."""
    run = item.run
    out: dict[str, Any] = {
        "label": item.label,
        "engine": item.engine,
        "model": item.model,
        "error": item.error,
        "run_dir": item.run_dir,
        "run_id": run.run_id if run else None,
        "status": run.status if run else "error",
    }
    if run is None:
        return out
    level = reference_level(run)
    fractions = []
    for f in FRACTIONS:
        at, near = at_fraction(run, f)
        fractions.append(
            {
                "fraction": f,
                "level_rate": at.offered_rate if at else None,
                "near": near,
                LATENCY.name: _pct_json(at.latency_ms) if at else None,
            }
        )
    out.update(
        {
            "max_sustainable_rate": run.max_sustainable_rate,
            "confidence": confidence(run),
            "at_fractions": fractions,
            "reference_level": level.arrivals if level else None,
            MEMORY.name: MEMORY.of(level),
            CPU_COST.name: CPU_COST.of(level),
            "levels": len(run.levels),
            "sent": sum(lv.sent for lv in run.levels),
            "accounted": all(lv.accounted for lv in run.levels),
        }
    )
    return out
