"""The history's tables (`orch history`, `history changes`, `history show`): runs one row per
strategy, change points, a run's facts; rounded by results.output.rounded."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from orchestrator.results import drift, early_stopping, figures
from orchestrator.results.load_run import LoadRun
from orchestrator.results.model import RunResult
from orchestrator.results.output import rounded

if TYPE_CHECKING:  # types only: the store imports SQLAlchemy, changepoints numpy
    from orchestrator.history.changepoints import ChangePoint
    from orchestrator.history.store import StoredLoadLevel, StoredRun, StoredStrategy

GROWTH = figures.get("growth_mb_per_iter")

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
    figures.get("iters_ok").label,
    GROWTH.label,
    "95% CI",
    figures.get("ttft_ms_median").label,
    figures.get("tokens_per_s_median").label,
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
                    s.strategy if s else run.strategies,  # a load run has no strategy rows
                    s.status if s else run.status,
                    s.verdict if s else None,
                    s.iters_ok if s else None,
                    GROWTH.cell(GROWTH.of(s)),
                    GROWTH.ci_cell(GROWTH.ci_of(s)),
                    figures.get("ttft_ms_median").cell(s.ttft_ms_median) if s else None,
                    figures.get("tokens_per_s_median").cell(s.tokens_per_s_median) if s else None,
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


LOAD_HEADERS = [
    "run_id",
    "started (UTC)",
    "host",
    "kind",
    "engine",
    "models",
    "strategy",
    "workers",
    "level",
    "sent",
    "ok",
    "failed",
    "t/o",
    "dropped",
    "req/s",
    "goodput/s",
    "latency p99 ms",
    "TTFT p99 ms",
    "wait p99 ms",
    "late p99 ms",
    "saturated",
    "valid",
    "MB/1000 req",
    "95% CI",
]


def load_rows(found: list[StoredLoadLevel]) -> list[list]:
    """One row per level of each stored load run (`orch history load`)."""
    rows = []
    for lv in found:
        lo, hi = lv.pool_ci_low, lv.pool_ci_high
        rows.append(
            [
                lv.run_id,
                (lv.started_at or "").replace("+00:00", "").replace("T", " "),
                lv.host,
                lv.kind if not lv.matrix_key else f"soak {lv.matrix_key}",
                lv.engine,
                lv.models,
                lv.strategy,
                lv.workers,
                lv.arrivals,
                lv.sent,
                lv.ok,
                lv.failed,
                lv.timed_out,
                lv.dropped,
                rounded(lv.throughput_rps, 2),
                rounded(lv.goodput_rps, 2),
                rounded(lv.latency_ms_p99),
                rounded(lv.ttft_ms_p99),
                rounded(lv.queue_wait_ms_p99),
                rounded(lv.lateness_ms_p99, 2),
                None if lv.saturated is None else ("yes" if lv.saturated else "no"),
                None if lv.valid is None else ("yes" if lv.valid else "INVALID"),
                rounded(lv.pool_mb_per_1000, 2),
                f"[{rounded(lo, 2):.2f}, {rounded(hi, 2):.2f}]" if None not in (lo, hi) else None,
            ]
        )
    return rows


def load_floor_lines(found: list[StoredLoadLevel]) -> list[str]:
    """Under `orch history load`'s table: each level that ended short of its floor, as the
    terminal said it (`too short for its claims: ...`)."""
    return [f"{lv.run_id} {lv.arrivals}: {lv.floor_why}" for lv in found if lv.floor_why]


def level_notes(run: LoadRun) -> list[tuple[str, str]]:
    """(level, note) for what a level's row cannot say, in level order: INVALID, saturated,
    short of its floor (`history show`, `report`)."""
    out = []
    for lv in run.levels:
        if not lv.valid:
            out.append((lv.arrivals, f"INVALID: {lv.invalid_reason}"))
        if lv.saturated:
            out.append((lv.arrivals, f"saturated: {lv.saturation_why}"))
        if lv.short_of_floor:
            out.append((lv.arrivals, lv.short_of_floor))
    return out


CPU_COST = figures.load("core_h_per_audio_h")

RUN_LEVEL_HEADERS = [
    "level",
    "sent",
    "ok",
    "failed/t-o/drop/canc",
    "req/s",
    "audio s/s",
    "goodput/s",
    "wait p50/p99 ms",
    "TTFT p50/p90/p99 ms",
    "TTFT disp. p99 ms",
    "latency p50/p90/p99 ms",
    "RTF p99",
    "late p50/p99 ms",
    "saturated",
    "valid",
    "pool MB/1000 req [95% CI]",
    figures.load("core_h_per_audio_h").label,
]


def _ppp(p, nd: int = 0, which=("p50", "p90", "p99")) -> str | None:
    """The percentiles, each a number or what its count lacks (`p99 n=12, needs ≥ 662`)."""
    if p is None:
        return None
    return " / ".join(_one(p, w, nd) for w in which)


def _one(p, which: str, nd: int) -> str:
    value = getattr(p, which)
    if value is not None:
        return f"{value:.{nd}f}"
    return f"{which} n={p.n}, needs ≥ {early_stopping.min_requests(int(which[1:]) / 100)}"


def run_level_rows(run: LoadRun) -> list[list]:
    """One row per level of a load run (`history show`, `report`)."""
    rows = []
    for lv in run.levels:
        fit = lv.pool_memory
        rtf = lv.figure("rtf")
        rows.append(
            [
                lv.arrivals,
                lv.sent,
                lv.ok,
                f"{lv.failed}/{lv.timed_out}/{lv.dropped}/{lv.cancelled}",
                rounded(lv.throughput_rps, 2),
                rounded(lv.audio_s_per_s, 2),
                rounded(lv.goodput_rps, 2),
                _ppp(lv.figure("queue_wait_ms"), 1, ("p50", "p99")),
                _ppp(lv.figure("ttft_ms")),
                _ppp(lv.figure("ttft_dispatch_ms"), 0, ("p99",)),
                _ppp(lv.figure("latency_ms")),
                _ppp(rtf, 3, ("p99",)),
                _ppp(lv.lateness_ms, 2, ("p50", "p99")),
                "yes" if lv.saturated else "no",
                "yes" if lv.valid else "INVALID",
                _growth_cell(fit),
                CPU_COST.cell(CPU_COST.of(lv)),
            ]
        )
    return rows


def _growth_cell(fit) -> str | None:
    """A level's memory per 1000 requests with its CI, or `too few requests (N)`."""
    if fit is None:
        return None
    if not fit.enough:
        return f"too few requests ({fit.requests})"
    return f"{fit.mb_per_1000:+.2f} [{fit.ci_low:+.2f}, {fit.ci_high:+.2f}]"


def load_facts(run: LoadRun) -> str:
    plan = run.plan
    amount = run.level_length
    lines = [
        f"load run {run.run_id}  started {run.started_at}  finished {run.finished_at}"
        f"  host {run.host.get('hostname') or '-'}  status {run.status}",
        f"engine {run.engine_name} x {run.strategy} x {run.workers} worker(s); {amount} a level, "
        f"{plan.get('warmup_requests') or 0} warm-up; SLO {plan.get('slo') or '-'}; "
        f"models {', '.join(m for m in plan.get('models') or [] if m) or '-'}",
    ]
    lines.append(run.max_rate_line())
    if run.error:
        lines.append(f"error: {run.error}")
    if run.interrupted:
        lines.append("interrupted (Ctrl-C): the level it stopped holds cancelled requests")
    return "\n".join(lines)
