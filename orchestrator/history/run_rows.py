"""A RunResult in the history: its `runs` row and one `run_strategies` row per strategy (the
declared figures' columns among them), stored whole as JSON beside them; read back as
StoredRun rows (list_runs) or the whole result (load_run).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from orchestrator.history.builds import build_identity, hostname_of
from orchestrator.history.connect import get_db_engine
from orchestrator.history.schema import DRIFT_COLUMNS, delete_run, run_strategies, runs, writer
from orchestrator.results import figures
from orchestrator.results.model import ResultError, RunResult, StrategyResult


# --- the columns taken from a result -------------------------------------------------------
def parse_time(value) -> _dt.datetime | None:
    """ISO-8601 (or a datetime) to naive UTC; None if absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        t = value
    else:
        try:
            t = _dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return t


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def run_status(result: RunResult) -> str:
    """ok when every strategy is ok (or skipped as not applicable), else the first other status."""
    for r in result.results:
        if not r.status.fine:
            return str(r.status)
    return "ok" if result.results else "empty"


def run_kind(result: RunResult) -> str:
    if result.soak is not None:
        return "soak"
    several = len(result.plan.get("strategies") or []) > 1 or len(result.plan.get("engines") or []) > 1
    return "compare" if several else "run"


def _models_label(result: RunResult) -> str | None:
    labels = [os.path.basename(str(m)) for m in result.plan.get("models") or []]
    if not labels:
        labels = sorted({str(r.model) for r in result.results if r.model})
    return ",".join(labels) or None


def _f(v):
    return None if v is None else float(v)


def declared_values(s) -> dict:
    """The declared figures' columns of a Summary (or of what reads like one): value, CI ends,
    verdict."""
    row: dict = {}
    for f in figures.stored("run"):
        value = f.of(s)
        row[f.column_name] = value if value is None or f.nd == 0 else float(value)
        cols = f.ci_column_names
        if cols:
            ci = f.ci_of(s)
            row[cols[0]], row[cols[1]] = (_f(ci[0]), _f(ci[1])) if ci else (None, None)
        if f.verdict_column:
            row[f.verdict_column] = f.verdict_of(s)
    return row


def _strategy_row(position: int, r: StrategyResult) -> dict:
    s = r.summary
    row = {
        "position": position,
        # `compare --engines` holds several engines' strategies: engine/strategy tells them apart
        "strategy": (f"{r.engine}/{r.strategy}" if r.engine else r.strategy)[:32],
        "model": r.model,
        "status": str(r.status),
        "verdict": str(s.verdict) if s and s.verdict else None,
        **declared_values(s),
    }
    for name in DRIFT_COLUMNS:
        row[name] = getattr(s, name) if s else None
    return row


def _run_row(result: RunResult) -> dict:
    soak = result.soak
    return {
        "run_id": str(result.run_id),
        "started_at": parse_time(result.started_at),
        "finished_at": parse_time(result.finished_at),
        "stored_at": _utcnow(),
        "kind": run_kind(result),
        "engine": result.engine_name,
        "scenario": result.plan.get("scenario"),
        "models": _models_label(result),
        "strategies": ",".join(result.plan.get("strategies") or [r.strategy for r in result.results]),
        "status": run_status(result),
        "matrix_key": soak.matrix_key if soak else None,
        "outcome": soak.outcome.value if soak and soak.outcome else None,
        "host": hostname_of(result.host),
        "build": build_identity(result.engine),
        "result": json.dumps(result.to_json(), ensure_ascii=False, default=str),
    }


# --- public API ----------------------------------------------------------------------------
@dataclass
class StoredStrategy:
    """One strategy of a stored run, as its columns hold it (list_runs)."""

    strategy: str
    model: str | None = None
    status: str | None = None
    verdict: str | None = None
    iters_ok: int | None = None
    growth_mb_per_iter: float | None = None
    growth_ci_low: float | None = None
    growth_ci_high: float | None = None
    ttft_ms_median: float | None = None
    ttft_ms_p95: float | None = None
    tokens_per_s_median: float | None = None
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    rss_peak_mb: float | None = None
    cer_mean: float | None = None
    text_stable: bool | None = None
    first_changed_at: int | None = None
    changed_iterations: int | None = None
    matches_baseline: bool | None = None
    # the other declared figures' columns (results.figures), by column name; read as attributes
    values: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values")
        if values is not None and name in values:
            return values[name]
        if name in _DECLARED_ONLY:
            return None
        raise AttributeError(name)

    @classmethod
    def of(cls, columns: dict) -> StoredStrategy:
        """From column values: the fields by name, every other declared column in `values`."""
        fixed = {k: v for k, v in columns.items() if k in _FIELDS}
        return cls(**fixed, values={k: v for k, v in columns.items() if k not in _FIELDS})


@dataclass
class StoredRun:
    """A stored run without its full result (list_runs; load_run gives the RunResult)."""

    run_id: str
    started_at: str | None = None  # ISO 8601, UTC
    finished_at: str | None = None
    kind: str = "run"  # run | compare | soak | load (a soak's load cell: soak, with load levels)
    engine: str | None = None  # the speech engine's name
    scenario: str | None = None
    models: str | None = None  # comma-separated labels
    strategies: str | None = None  # comma-separated, in run order
    status: str | None = None
    matrix_key: str | None = None
    outcome: str | None = None  # soak: ok | regression | failed
    host: str | None = None  # the hostname it ran on
    build: str | None = None  # the engine build (store.build_identity)
    results: list[StoredStrategy] = field(default_factory=list)


_FIELDS = frozenset(f.name for f in dataclasses.fields(StoredStrategy)) - {"values"}


STRATEGY_COLUMNS = tuple(c.name for c in run_strategies.c if c.name not in ("id", "run_pk", "position"))


_DECLARED_ONLY = frozenset(STRATEGY_COLUMNS) - _FIELDS


RUN_COLUMNS = tuple(f.name for f in dataclasses.fields(StoredRun) if f.name != "results")


def save_run(result: RunResult, db: str | None = None) -> None:
    """Store one result (its to_json()) in one transaction. Saving a run_id again replaces
    it (the harness may store a run, then a soak its verdict)."""
    if not result.run_id:
        raise ValueError("result has no run_id")
    row = _run_row(result)
    with writer(get_db_engine(db)).begin() as conn:
        old = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == row["run_id"])).scalar()
        if old is not None:
            delete_run(conn, old)
        pk = conn.execute(runs.insert().values(**row).returning(runs.c.id)).scalar_one()
        rows = [dict(_strategy_row(i, r), run_pk=pk) for i, r in enumerate(result.results)]
        if rows:
            conn.execute(run_strategies.insert(), rows)


class RunNotFound(LookupError):
    pass


def load_run(run_id_or_latest: str, db: str | None = None) -> RunResult:
    """A stored run: its run_id, a unique prefix of one, or `latest`. Rows written as
    orch.run/1 read too (RunResult.from_json); a row that is no orch result is a
    ResultError naming the run."""
    with get_db_engine(db).connect() as conn:
        run_id, text = _stored_text(conn, run_id_or_latest)
    try:
        return RunResult.from_json(json.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # ResultError, or JSON that does not parse
        raise ResultError(f"stored run {run_id} is not an orch result: {exc}") from None


def _stored_text(conn, run_id_or_latest: str) -> tuple[str, str]:
    """(run_id, result JSON) of the run asked for; RunNotFound when there is none (or the
    prefix matches several)."""
    if run_id_or_latest == "latest":
        q = sa.select(runs.c.run_id, runs.c.result).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)
        found = conn.execute(q).first()
        if found is None:
            raise RunNotFound("the history is empty")
        return found.run_id, found.result
    text = conn.execute(sa.select(runs.c.result).where(runs.c.run_id == run_id_or_latest)).scalar()
    if text is not None:
        return run_id_or_latest, text
    found = conn.execute(
        sa.select(runs.c.run_id, runs.c.result)
        .where(runs.c.run_id.startswith(run_id_or_latest, autoescape=True))
        .limit(2)
    ).all()
    if len(found) > 1:
        raise RunNotFound(f"{run_id_or_latest!r} matches more than one run")
    if not found:
        raise RunNotFound(f"no run {run_id_or_latest!r} in the history")
    return found[0].run_id, found[0].result


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_since(since) -> _dt.datetime | None:
    """`7d`, `12h`, `30m`, `2w`, or an ISO date/time (taken as UTC when it has no zone)."""
    if since is None or since == "":
        return None
    if isinstance(since, _dt.datetime):
        return parse_time(since)
    if isinstance(since, _dt.date):
        return _dt.datetime(since.year, since.month, since.day)
    m = _RELATIVE.match(str(since))
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[m.group(2)]
        return _utcnow() - _dt.timedelta(**{unit: float(m.group(1))})
    t = parse_time(since)
    if t is None:
        raise ValueError(f"cannot read {since!r} as a time: give e.g. 7d, 12h or 2025-01-31")
    return t


def _iso(t: _dt.datetime | None) -> str | None:
    return None if t is None else t.replace(tzinfo=_dt.timezone.utc).isoformat(timespec="seconds")


def list_runs(
    db: str | None = None,
    strategy: str | None = None,
    engine: str | None = None,
    model: str | None = None,
    since=None,
    matrix_key: str | None = None,
    kind: str | None = None,
    status: str | None = None,
    limit: int | None = None,
    newest_first: bool = True,
    host: str | None = None,
) -> list[StoredRun]:
    """Runs (without their full JSON), newest first, each with `results`: its strategies'
    columns. `engine` is the speech engine's name; `strategy` keeps runs that have it (and
    only its rows); `model` matches a substring of the models label; `since` as parse_since;
    `host` the hostname it ran on (exactly)."""
    q = sa.select(runs.c.id, *(runs.c[name] for name in RUN_COLUMNS))
    equal = {"engine": engine, "matrix_key": matrix_key, "kind": kind, "status": status, "host": host}
    q = filter_runs(q, equal, model, since)
    if strategy:
        q = q.where(
            sa.exists().where(run_strategies.c.run_pk == runs.c.id).where(run_strategies.c.strategy == strategy)
        )
    order = (runs.c.started_at.desc(), runs.c.id.desc()) if newest_first else (runs.c.started_at, runs.c.id)
    q = q.order_by(*order)
    if limit:
        q = q.limit(limit)
    with get_db_engine(db).connect() as conn:
        found = conn.execute(q).all()
        by_pk = _strategies_of(conn, [row.id for row in found], strategy)
    return [_stored_run(row, by_pk.get(row.id, [])) for row in found]


def filter_runs(q: sa.Select, equal: dict, model: str | None, since) -> sa.Select:
    """`q` kept to the runs whose `runs` columns equal the given values (None: any), whose
    models label contains `model`, started at or after `since` (parse_since)."""
    for name, value in equal.items():
        if value:
            q = q.where(runs.c[name] == value)
    if model:
        q = q.where(runs.c.models.contains(model, autoescape=True))
    start = parse_since(since)
    if start is not None:
        q = q.where(runs.c.started_at >= start)
    return q


def _strategies_of(conn, pks: list[int], strategy: str | None) -> dict[int, list[StoredStrategy]]:
    """The strategy rows of these runs, in run order (only `strategy`'s when given)."""
    out: dict[int, list[StoredStrategy]] = {}
    if not pks:
        return out
    q = sa.select(run_strategies.c.run_pk, *(run_strategies.c[name] for name in STRATEGY_COLUMNS))
    q = q.where(run_strategies.c.run_pk.in_(pks))
    if strategy:
        q = q.where(run_strategies.c.strategy == strategy)
    for row in conn.execute(q.order_by(run_strategies.c.run_pk, run_strategies.c.position)):
        values = row._mapping
        out.setdefault(row.run_pk, []).append(StoredStrategy.of({k: values[k] for k in STRATEGY_COLUMNS}))
    return out


def _stored_run(row, strategies: list[StoredStrategy]) -> StoredRun:
    values = {k: row._mapping[k] for k in RUN_COLUMNS}
    values["started_at"], values["finished_at"] = _iso(values["started_at"]), _iso(values["finished_at"])
    return StoredRun(**values, results=strategies)
