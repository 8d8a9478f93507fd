"""The history's tables (`orch history`, `history changes`, `history show`): runs one row per
strategy, change points, a run's facts; rounded by results.output.rounded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from orchestrator.results import drift
from orchestrator.results.model import RunResult
from orchestrator.results.output import rounded

if TYPE_CHECKING:  # types only: the store imports SQLAlchemy, changepoints numpy
    from orchestrator.history.changepoints import ChangePoint
    from orchestrator.history.store import StoredRun, StoredStrategy

LIST_HEADERS = [
    "run_id",
    "started (UTC)",
    "host",
    "build",
    "kind",
    "engine",
    "scenario",
    "models",
    "strategy",
    "status",
    "verdict",
    "iters",
    "growth MB/iter",
    "95% CI",
    "TTFT ms (p50)",
    "tok/s (p50)",
    "text",
    "soak",
]


def list_rows(found: list[StoredRun]) -> list[list]:
    """One row per strategy of each run (a run with none: one row), rounded by output.rounded."""
    rows = []
    for run in found:
        started = (run.started_at or "").replace("+00:00", "").replace("T", " ")
        soak = " ".join(x for x in (run.matrix_key, run.outcome) if x) or None
        strategies: list[StoredStrategy | None] = list(run.results) or [None]
        for s in strategies:
            lo, hi = (s.growth_ci_low, s.growth_ci_high) if s else (None, None)
            rows.append(
                [
                    run.run_id,
                    started,
                    run.host,
                    run.build,
                    run.kind,
                    run.engine,
                    run.scenario,
                    run.models,
                    s.strategy if s else None,
                    s.status if s else run.status,
                    s.verdict if s else None,
                    s.iters_ok if s else None,
                    rounded(s.growth_mb_per_iter, 3) if s else None,
                    f"[{rounded(lo, 3):.3f}, {rounded(hi, 3):.3f}]" if None not in (lo, hi) else None,
                    rounded(s.ttft_ms_median) if s else None,
                    rounded(s.tokens_per_s_median) if s else None,
                    drift.column(s),
                    soak,
                ]
            )
    return rows


CHANGE_HEADERS = [
    "host",
    "when (UTC)",
    "soak key",
    "strategy",
    "model",
    "figure",
    "run_id",
    "before",
    "after",
    "change %",
    "then per run",
    "p (Chow)",
    "build",
]


def change_rows(found: list[ChangePoint], metrics: dict[str, tuple[str, int]]) -> list[list]:
    """One row per change point; `metrics`: each figure's label and decimals (changepoints.METRICS)."""
    rows = []
    for c in found:
        label, nd = metrics[c.metric]
        rows.append(
            [
                c.host,
                (c.started_at or "").replace("+00:00", "").replace("T", " "),
                c.matrix_key,
                c.strategy,
                c.model,
                label,
                c.run_id,
                rounded(c.before, nd),
                rounded(c.after, nd),
                rounded(c.change_pct),
                rounded(c.slope_after, nd),
                f"{c.p_value:.2g}",
                c.builds,
            ]
        )
    return rows


def run_facts(result: RunResult) -> str:
    plan, engine = result.plan, result.engine
    return "\n".join(
        [
            f"run {result.run_id}  started {result.started_at}  finished {result.finished_at}"
            f"  host {result.host.get('hostname') or '-'}",
            f"engine {result.engine_name} {json.dumps({k: v for k, v in engine.items() if k != 'name'})}",
            f"scenario {plan.get('scenario')}, {plan.get('iters')} iterations, {plan.get('warmup')} warm-up, "
            f"models {', '.join(plan.get('models') or []) or '-'}, audio {plan.get('audio') or '-'}",
        ]
    )
