"""A load run (orch load; a soak's load cell) in the history: its `runs` row, its `load_runs`
row, a `load_levels` row per level and a `load_memory` row per memory fit; read back as
StoredLoadLevel rows (list_load_levels) or the whole LoadRun (load_any).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass

import sqlalchemy as sa

from orchestrator.history.builds import build_identity, hostname_of
from orchestrator.history.connect import get_db_engine
from orchestrator.history.run_rows import _f, _iso, _stored_text, _utcnow, filter_runs, parse_time
from orchestrator.history.schema import (
    LOAD_PERCENTILE_FIGURES,
    delete_run,
    load_levels,
    load_memory,
    load_runs,
    runs,
    writer,
)
from orchestrator.results import figures
from orchestrator.results.load_run import LoadLevel, LoadRun, is_load_document
from orchestrator.results.model import ResultError, RunResult


# --- load runs (orch load; a soak's load cell) ----------------------------------------------
def _load_run_row(run: LoadRun) -> dict:
    models = [os.path.basename(str(m)) for m in run.plan.get("models") or [] if m]
    soak = run.soak
    return {
        "run_id": str(run.run_id),
        "started_at": parse_time(run.started_at),
        "finished_at": parse_time(run.finished_at),
        "stored_at": _utcnow(),
        "kind": "soak" if soak else "load",
        "engine": run.engine_name,
        "scenario": None,
        "models": ",".join(models) or None,
        "strategies": run.strategy,
        "status": run.status,
        "matrix_key": soak.matrix_key if soak else None,
        "outcome": soak.outcome.value if soak and soak.outcome else None,
        "host": hostname_of(run.host),
        "build": build_identity(run.engine),
        "result": json.dumps(run.to_json(), ensure_ascii=False, default=str),
    }


def _load_level_row(lv: LoadLevel) -> dict:
    row = {
        "position": lv.level,
        "arrivals": lv.arrivals[:64],
        "offered_rate": _f(lv.offered_rate),
        "concurrency": lv.concurrency,
        "sent": lv.sent,
        "ok": lv.ok,
        "failed": lv.failed,
        "timed_out": lv.timed_out,
        "dropped": lv.dropped,
        "cancelled": lv.cancelled,
        "duration_s": _f(lv.duration_s),
        "throughput_rps": _f(lv.throughput_rps),
        "audio_s_per_s": _f(lv.audio_s_per_s),
        "goodput_rps": _f(lv.goodput_rps),
        "lateness_ms_p50": _f(lv.lateness_ms.p50) if lv.lateness_ms else None,
        "lateness_ms_p99": _f(lv.lateness_ms.p99) if lv.lateness_ms else None,
        "saturated": lv.saturated,
        "valid": lv.valid,
        "invalid_reason": lv.invalid_reason,
        # against its floor (load.length); None: a fixed length (schema.LOAD_LEVEL_ADDED_COLUMNS)
        "floor_met": bool(lv.floor.get("met", True)) if lv.floor else None,
        "floor_why": lv.short_of_floor,
    }
    for f in figures.stored("load"):  # declared since version 5 (results.figures)
        if f.column_name is not None and f.column_name not in row:
            row[f.column_name] = _f(f.of(lv))
    for figure in LOAD_PERCENTILE_FIGURES:
        pct = lv.figure(figure)
        for p in ("p50", "p90", "p99"):
            row[f"{figure}_{p}"] = _f(getattr(pct, p)) if pct else None
    return row


def save_load_run(run: LoadRun, db: str | None = None) -> None:
    """Store one load run (its document, its levels, their memory fits) in one transaction;
    saving a run_id again replaces it, as save_run does."""
    if not run.run_id:
        raise ValueError("load run has no run_id")
    row = _load_run_row(run)
    plan = run.plan
    with writer(get_db_engine(db)).begin() as conn:
        old = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == row["run_id"])).scalar()
        if old is not None:
            delete_run(conn, old)
        pk = conn.execute(runs.insert().values(**row).returning(runs.c.id)).scalar_one()
        conn.execute(
            load_runs.insert().values(
                run_pk=pk,
                strategy=run.strategy,
                workers=run.workers,
                requests_per_level=plan.get("requests"),
                duration_per_level_s=_f(plan.get("duration_s")),
                warmup_requests=plan.get("warmup_requests"),
                slo=(plan.get("slo") or None),
                max_lateness_ms=_f(plan.get("max_lateness_ms")),
                seed=plan.get("seed"),
                interrupted=run.interrupted,
                error=run.error,
            )
        )
        for lv in run.levels:
            level_pk = conn.execute(
                load_levels.insert().values(run_pk=pk, **_load_level_row(lv)).returning(load_levels.c.id)
            ).scalar_one()
            memory = [
                {
                    "level_pk": level_pk,
                    "who": m.who,
                    "mb_per_1000": m.mb_per_1000,
                    "ci_low": m.ci_low,
                    "ci_high": m.ci_high,
                    "requests": m.requests,
                    "samples": m.samples,
                }
                for m in lv.memory
            ]
            if memory:
                conn.execute(load_memory.insert(), memory)


def load_any(run_id_or_latest: str, db: str | None = None) -> RunResult | LoadRun:
    """A stored run of any kind: a LoadRun for a load run's row, else what load_run gives."""
    with get_db_engine(db).connect() as conn:
        run_id, text = _stored_text(conn, run_id_or_latest)
    try:
        data = json.loads(text)
        if is_load_document(data):
            return LoadRun.from_json(data)
        return RunResult.from_json(data)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ResultError(f"stored run {run_id} is not an orch result: {exc}") from None


@dataclass
class StoredLoadLevel:
    """One level of a stored load run, with its run's columns (list_load_levels)."""

    run_id: str
    started_at: str | None
    host: str | None
    build: str | None
    kind: str
    engine: str | None
    models: str | None
    strategy: str | None
    workers: int | None
    status: str | None
    matrix_key: str | None
    position: int
    arrivals: str
    offered_rate: float | None
    concurrency: int | None
    sent: int
    ok: int
    failed: int
    timed_out: int
    dropped: int
    cancelled: int
    throughput_rps: float | None
    goodput_rps: float | None
    latency_ms_p99: float | None
    ttft_ms_p99: float | None
    queue_wait_ms_p99: float | None
    lateness_ms_p99: float | None
    saturated: bool | None
    valid: bool | None
    floor_met: bool | None  # against --min-requests/--min-duration; None: a fixed length, or stored before
    floor_why: str | None  # `too short for its claims: ...` when not met
    pool_mb_per_1000: float | None  # the pool's fit (one worker: that worker's)
    pool_ci_low: float | None
    pool_ci_high: float | None


# the fields read as they are from the joined row (the others: started_at, the pool's fit)
_LEVEL_FIELDS = tuple(
    f.name
    for f in dataclasses.fields(StoredLoadLevel)
    if f.name not in ("started_at", "pool_mb_per_1000", "pool_ci_low", "pool_ci_high")
)


def _newest_load_runs(engine, model, since, host, matrix_key, limit) -> sa.Select:
    """The run pks of the stored load runs the filters keep, newest first."""
    q = sa.select(runs.c.id).where(sa.exists().where(load_runs.c.run_pk == runs.c.id))
    q = filter_runs(q, {"engine": engine, "host": host, "matrix_key": matrix_key}, model, since)
    q = q.order_by(runs.c.started_at.desc(), runs.c.id.desc())
    return q.limit(limit) if limit else q


def _stored_level(r, level_fits: list) -> StoredLoadLevel:
    """One joined runs x load_runs x load_levels row and its level's memory fits."""
    # the pool's fit; with one worker, that worker's (it is the pool)
    fit = next((m for m in level_fits if m.who == "pool"), level_fits[0] if len(level_fits) == 1 else None)
    values = {name: getattr(r, name) for name in _LEVEL_FIELDS}
    return StoredLoadLevel(
        **values,
        started_at=_iso(r.started_at),
        pool_mb_per_1000=fit.mb_per_1000 if fit else None,
        pool_ci_low=fit.ci_low if fit else None,
        pool_ci_high=fit.ci_high if fit else None,
    )


def list_load_levels(
    db: str | None = None,
    engine: str | None = None,
    model: str | None = None,
    since=None,
    host: str | None = None,
    matrix_key: str | None = None,
    limit: int | None = None,
) -> list[StoredLoadLevel]:
    """Levels of stored load runs (the `limit` newest runs), newest run first, its levels in order."""
    with get_db_engine(db).connect() as conn:
        pks = [row.id for row in conn.execute(_newest_load_runs(engine, model, since, host, matrix_key, limit))]
        if not pks:
            return []
        rows = conn.execute(
            sa.select(
                runs.c.id.label("pk"),
                runs.c.run_id,
                runs.c.started_at,
                runs.c.host,
                runs.c.build,
                runs.c.kind,
                runs.c.engine,
                runs.c.models,
                runs.c.status,
                runs.c.matrix_key,
                load_runs.c.strategy,
                load_runs.c.workers,
                load_levels,
            )
            .join(load_runs, load_runs.c.run_pk == runs.c.id)
            .join(load_levels, load_levels.c.run_pk == runs.c.id)
            .where(runs.c.id.in_(pks))
        ).all()
        fits: dict[int, list] = {}
        for m in conn.execute(sa.select(load_memory).where(load_memory.c.level_pk.in_([r.id for r in rows]))):
            fits.setdefault(m.level_pk, []).append(m)
    order = {pk: k for k, pk in enumerate(pks)}
    return [_stored_level(r, fits.get(r.id, [])) for r in sorted(rows, key=lambda r: (order[r.pk], r.position))]
