"""The history database: every `run`, `compare` and `soak` result, kept whole (the result
JSON as it was written) beside a few columns to query by.

Where: `--db` (a file path, `sqlite:///…`, or `postgresql://…`), else the environment
variable ORCH_DB, else `history.sqlite3` in the user's data directory (platformdirs).
All statements go through SQLAlchemy 2 Core, so one code path serves SQLite and PostgreSQL.

Two writers at once (overlapping cron runs) are safe: each run is stored in one transaction;
on SQLite the file is in WAL mode, write transactions start with BEGIN IMMEDIATE (a writer
waits for the other instead of failing half way) and a busy timeout of 60 s; on PostgreSQL
the row lock on `schema_version` serialises migrations and transactions do the rest.

Schema: versioned in `schema_version` (one row), brought up to date by MIGRATIONS, an ordered
list applied once each, in one transaction, the first time a process opens the database.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import threading
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from orchestrator.errors import OrchError

ENV_VAR = "ORCH_DB"
DEFAULT_FILENAME = "history.sqlite3"

# --- the current schema (what every migration below adds up to) ------------------------
metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
)

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, unique=True),
    sa.Column("started_at", sa.DateTime, index=True),  # UTC, naive
    sa.Column("finished_at", sa.DateTime),
    sa.Column("stored_at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # run | compare | soak
    sa.Column("engine", sa.String(64)),
    sa.Column("scenario", sa.String(32)),
    sa.Column("models", sa.Text),  # comma-separated labels
    sa.Column("strategies", sa.Text),  # comma-separated, in run order
    sa.Column("status", sa.String(16)),  # ok when every strategy is ok (or skipped), else the first other
    sa.Column("matrix_key", sa.String(255)),
    sa.Column("result", sa.Text, nullable=False),  # the full result JSON
    # migration 2
    sa.Column("outcome", sa.String(16)),  # soak: ok | regression | failed
    sa.Index("ix_runs_matrix_key_started", "matrix_key", "started_at"),
)

run_strategies = sa.Table(
    "run_strategies", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("strategy", sa.String(32), nullable=False, index=True),
    sa.Column("model", sa.Text),
    sa.Column("status", sa.String(16)),
    sa.Column("verdict", sa.String(16)),
    sa.Column("iters_ok", sa.Integer),
    sa.Column("growth_mb_per_iter", sa.Float),
    sa.Column("growth_ci_low", sa.Float),
    sa.Column("growth_ci_high", sa.Float),
    sa.Column("ttft_ms_median", sa.Float),
    sa.Column("ttft_ms_p95", sa.Float),
    sa.Column("tokens_per_s_median", sa.Float),
    sa.Column("rss_start_mb", sa.Float),
    sa.Column("rss_end_mb", sa.Float),
    sa.Column("rss_peak_mb", sa.Float),
    # migration 2
    sa.Column("cer_mean", sa.Float),
)


# --- migrations ---------------------------------------------------------------------------
def _m1_initial(conn) -> None:
    """runs and run_strategies as first released (no soak outcome, no CER)."""
    md = sa.MetaData()
    sa.Table(
        "runs", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.String(64), nullable=False, unique=True),
        sa.Column("started_at", sa.DateTime, index=True),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("stored_at", sa.DateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("engine", sa.String(64)),
        sa.Column("scenario", sa.String(32)),
        sa.Column("models", sa.Text),
        sa.Column("strategies", sa.Text),
        sa.Column("status", sa.String(16)),
        sa.Column("matrix_key", sa.String(255)),
        sa.Column("result", sa.Text, nullable=False),
    )
    sa.Table(
        "run_strategies", md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("strategy", sa.String(32), nullable=False, index=True),
        sa.Column("model", sa.Text),
        sa.Column("status", sa.String(16)),
        sa.Column("verdict", sa.String(16)),
        sa.Column("iters_ok", sa.Integer),
        sa.Column("growth_mb_per_iter", sa.Float),
        sa.Column("growth_ci_low", sa.Float),
        sa.Column("growth_ci_high", sa.Float),
        sa.Column("ttft_ms_median", sa.Float),
        sa.Column("ttft_ms_p95", sa.Float),
        sa.Column("tokens_per_s_median", sa.Float),
        sa.Column("rss_start_mb", sa.Float),
        sa.Column("rss_end_mb", sa.Float),
        sa.Column("rss_peak_mb", sa.Float),
    )
    md.create_all(conn)


def _add_column(conn, table: sa.Table, name: str) -> None:
    """ALTER TABLE … ADD COLUMN, the column's DDL compiled for the connection's dialect."""
    column = table.c[name]
    ddl = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
    preparer = conn.dialect.identifier_preparer
    conn.execute(sa.text(f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {ddl}"))


def _m2_soak_outcome_and_cer(conn) -> None:
    """Soak outcome per run, CER per strategy, and an index for baseline look-ups."""
    _add_column(conn, runs, "outcome")
    _add_column(conn, run_strategies, "cer_mean")
    next(ix for ix in runs.indexes if ix.name == "ix_runs_matrix_key_started").create(conn)


# ordered; a database at version N has had the first N applied. Append, never edit.
MIGRATIONS = [
    (1, "initial: runs, run_strategies", _m1_initial),
    (2, "runs.outcome, run_strategies.cer_mean, index on (matrix_key, started_at)", _m2_soak_outcome_and_cer),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


# --- connecting ------------------------------------------------------------------------------
def default_db_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("orch", appauthor=False)) / DEFAULT_FILENAME


def _named_db(db: str | None, source: str | None = None) -> tuple[str | None, str]:
    """(the database the user named, where they named it): --db, else ORCH_DB; (None, …)
    for the default location."""
    if db:
        return db, source or "--db"
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR], ENV_VAR
    return None, "default"


def _sqlite_file(db: str) -> Path | None:
    """The file of a SQLite database (a path or sqlite:///path); None for in-memory and server URLs."""
    if "://" not in db:
        return Path(db).expanduser()
    if db.startswith("sqlite:///") and db not in ("sqlite:///", "sqlite:///:memory:"):
        return Path(db[len("sqlite:///"):].split("?", 1)[0]).expanduser()
    return None


def db_problem(db: str | None = None, *, write: bool, source: str | None = None) -> str | None:
    """Why the history database named by --db (or ORCH_DB) cannot be used, in one line, or
    None. orch creates a database file, never the folders above it (a typo in the path
    would silently start a new history somewhere): the folder must exist. Reading (history,
    report) also needs the file to be there. The default location is orch's own: its folder
    is made when needed. Server URLs (postgresql://) are checked when connecting."""
    named, where = _named_db(db, source)
    if named is None:
        return None
    path = _sqlite_file(named)
    if path is None:
        return None
    shown = f"{where} {named}" if where != ENV_VAR else f"{ENV_VAR}={named}"
    if path.is_dir():
        return f"history database {shown} is a folder, not a file"
    folder = path.absolute().parent
    if not folder.is_dir():
        return (f"history database {shown}: folder {folder} does not exist (orch creates the "
                "database file, not its folder: create it, or give another path)")
    if not path.exists():
        if not write:
            return f"no history database at {shown} (nothing has been stored there)"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"history database {shown}: cannot create a file in {folder} (permission denied)"
    elif not os.access(path, os.R_OK | (os.W_OK if write else 0)):
        return f"history database {shown}: permission denied"
    return None


def resolve_url(db: str | None = None) -> str:
    """A SQLAlchemy URL from --db / ORCH_DB / the default file. Only the default file's
    folder is created; a named file's folder must exist (db_problem), else OrchError."""
    named, _where = _named_db(db)
    if "://" not in (named or ""):  # a file path
        if named is None:
            path = default_db_path().expanduser().resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
        else:
            path = Path(named).expanduser().resolve()
            why = db_problem(db, write=True)
            if why:
                raise OrchError(why)
        return f"sqlite:///{path}"
    db = named
    if re.match(r"^(postgres|postgresql)://", db):
        # SQLAlchemy's default driver for postgresql:// is psycopg2; prefer psycopg 3 when present
        driver = _pg_driver()
        db = re.sub(r"^(postgres|postgresql)://", f"postgresql+{driver}://" if driver else "postgresql://", db)
    return db


def _pg_driver() -> str | None:
    import importlib.util

    for name, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(name) is not None:
            return driver
    return None


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


_engines: dict[str, sa.Engine] = {}
_engines_lock = threading.Lock()


def _sqlite_engine(url: str) -> sa.Engine:
    engine = sa.create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        if not url.endswith(":memory:") and url != "sqlite://":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # writers take the write lock up front: a second writer waits (busy timeout)
        # instead of failing when it tries to upgrade a read lock
        immediate = conn.get_execution_options().get("orch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def get_engine(db: str | None = None) -> sa.Engine:
    """The engine for this database, its schema brought up to date (once per process)."""
    url = resolve_url(db)
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                engine = _sqlite_engine(url)
            else:
                engine = sa.create_engine(url, pool_pre_ping=True)
            migrate(engine)
            _engines[url] = engine
    return engine


def dispose_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _writer(engine: sa.Engine) -> sa.Engine:
    return engine.execution_options(orch_write=True)


def current_version(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        return conn.execute(sa.select(schema_version.c.version)).scalar() or 0


def migrate(engine: sa.Engine, target: int | None = None) -> int:
    """Apply the pending migrations (up to `target`); returns the version reached. Safe to
    call from two processes at once: the second waits for the first and finds nothing to do."""
    target = SCHEMA_VERSION if target is None else target
    for attempt in range(5):
        try:
            with _writer(engine).begin() as conn:
                schema_version.create(conn, checkfirst=True)
                if conn.execute(sa.select(schema_version.c.id)).first() is None:
                    conn.execute(schema_version.insert().values(id=1, version=0))
            break
        except (IntegrityError, ProgrammingError, OperationalError):
            # PostgreSQL: another process created the table or row between our check and
            # our statement; look again
            if attempt == 4:
                raise
    with _writer(engine).begin() as conn:
        version = conn.execute(
            sa.select(schema_version.c.version).where(schema_version.c.id == 1).with_for_update()
        ).scalar_one()
        for number, _description, apply in MIGRATIONS:
            if version < number <= target:
                apply(conn)
                version = number
        conn.execute(schema_version.update().where(schema_version.c.id == 1).values(version=version))
    return version


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


def run_status(result: dict) -> str:
    """ok when every strategy is ok (or skipped as not applicable), else the first other status."""
    for r in result.get("results") or []:
        if r.get("status") not in ("ok", "skipped"):
            return r.get("status") or "unknown"
    return "ok" if result.get("results") else "empty"


def run_kind(result: dict) -> str:
    if result.get("soak"):
        return "soak"
    return "compare" if len((result.get("plan") or {}).get("strategies") or []) > 1 else "run"


def _models_label(result: dict) -> str | None:
    plan = result.get("plan") or {}
    labels = [os.path.basename(str(m)) for m in plan.get("models") or []]
    if not labels:
        labels = sorted({str(r["model"]) for r in result.get("results") or [] if r.get("model")})
    return ",".join(labels) or None


def _f(v):
    return None if v is None else float(v)


def _strategy_row(position: int, r: dict) -> dict:
    s = r.get("summary") or {}
    ci = s.get("growth_ci95") or [None, None]
    return {
        "position": position, "strategy": r.get("strategy") or "?", "model": r.get("model"),
        "status": r.get("status"), "verdict": s.get("verdict"), "iters_ok": s.get("iters_ok"),
        "growth_mb_per_iter": _f(s.get("growth_mb_per_iter")), "growth_ci_low": _f(ci[0]),
        "growth_ci_high": _f(ci[1]), "ttft_ms_median": _f(s.get("ttft_ms_median")),
        "ttft_ms_p95": _f(s.get("ttft_ms_p95")), "tokens_per_s_median": _f(s.get("tokens_per_s_median")),
        "rss_start_mb": _f(s.get("rss_start_mb")), "rss_end_mb": _f(s.get("rss_end_mb")),
        "rss_peak_mb": _f(s.get("rss_peak_mb")), "cer_mean": _f(s.get("cer_mean")),
    }


# --- public API ----------------------------------------------------------------------------
def save_run(result: dict, db: str | None = None) -> None:
    """Store one result (schema orch.run/1) in one transaction. Saving a run_id again
    replaces it (the harness may store a run, then a soak its verdict)."""
    if not result.get("run_id"):
        raise ValueError("result has no run_id")
    engine = get_engine(db)
    soak = result.get("soak") or {}
    plan = result.get("plan") or {}
    row = {
        "run_id": str(result["run_id"]), "started_at": parse_time(result.get("started_at")),
        "finished_at": parse_time(result.get("finished_at")), "stored_at": _utcnow(),
        "kind": run_kind(result), "engine": (result.get("engine") or {}).get("name"),
        "scenario": plan.get("scenario"), "models": _models_label(result),
        "strategies": ",".join(plan.get("strategies") or [r.get("strategy", "?") for r in result.get("results") or []]),
        "status": run_status(result), "matrix_key": soak.get("matrix_key"), "outcome": soak.get("outcome"),
        "result": json.dumps(result, ensure_ascii=False, default=str),
    }
    with _writer(engine).begin() as conn:
        old = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == row["run_id"])).scalar()
        if old is not None:
            conn.execute(run_strategies.delete().where(run_strategies.c.run_pk == old))
            conn.execute(runs.delete().where(runs.c.id == old))
        pk = conn.execute(runs.insert().values(**row).returning(runs.c.id)).scalar_one()
        rows = [dict(_strategy_row(i, r), run_pk=pk) for i, r in enumerate(result.get("results") or [])]
        if rows:
            conn.execute(run_strategies.insert(), rows)


class RunNotFound(LookupError):
    pass


def load_run(run_id_or_latest: str, db: str | None = None) -> dict:
    """The full result JSON of a run: its run_id, a unique prefix of one, or `latest`."""
    engine = get_engine(db)
    with engine.connect() as conn:
        if run_id_or_latest == "latest":
            q = sa.select(runs.c.result).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(1)
            text = conn.execute(q).scalar()
            if text is None:
                raise RunNotFound("the history is empty")
            return json.loads(text)
        text = conn.execute(sa.select(runs.c.result).where(runs.c.run_id == run_id_or_latest)).scalar()
        if text is None:
            found = conn.execute(
                sa.select(runs.c.run_id, runs.c.result)
                .where(runs.c.run_id.startswith(run_id_or_latest, autoescape=True)).limit(2)
            ).all()
            if len(found) > 1:
                raise RunNotFound(f"{run_id_or_latest!r} matches more than one run")
            if not found:
                raise RunNotFound(f"no run {run_id_or_latest!r} in the history")
            text = found[0].result
        return json.loads(text)


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


def list_runs(db: str | None = None, strategy: str | None = None, engine: str | None = None,
              model: str | None = None, since=None, matrix_key: str | None = None,
              kind: str | None = None, status: str | None = None, limit: int | None = None,
              newest_first: bool = True) -> list[dict]:
    """Runs (without their full JSON), newest first, each with `results`: its strategies'
    columns. `strategy` keeps runs that have it (and only its rows); `model` matches a
    substring of the models label; `since` as parse_since."""
    eng = get_engine(db)
    q = sa.select(runs.c.id, runs.c.run_id, runs.c.started_at, runs.c.finished_at, runs.c.kind,
                  runs.c.engine, runs.c.scenario, runs.c.models, runs.c.strategies, runs.c.status,
                  runs.c.matrix_key, runs.c.outcome)
    if engine:
        q = q.where(runs.c.engine == engine)
    if model:
        q = q.where(runs.c.models.contains(model, autoescape=True))
    if matrix_key:
        q = q.where(runs.c.matrix_key == matrix_key)
    if kind:
        q = q.where(runs.c.kind == kind)
    if status:
        q = q.where(runs.c.status == status)
    start = parse_since(since)
    if start is not None:
        q = q.where(runs.c.started_at >= start)
    if strategy:
        q = q.where(sa.exists().where(run_strategies.c.run_pk == runs.c.id)
                    .where(run_strategies.c.strategy == strategy))
    order = (runs.c.started_at.desc(), runs.c.id.desc()) if newest_first else (runs.c.started_at, runs.c.id)
    q = q.order_by(*order)
    if limit:
        q = q.limit(limit)
    with eng.connect() as conn:
        found = [dict(r._mapping) for r in conn.execute(q)]
        by_pk = {r["id"]: r for r in found}
        for r in found:
            r["results"] = []
        if by_pk:
            sq = sa.select(run_strategies).where(run_strategies.c.run_pk.in_(list(by_pk)))
            if strategy:
                sq = sq.where(run_strategies.c.strategy == strategy)
            for s in conn.execute(sq.order_by(run_strategies.c.run_pk, run_strategies.c.position)):
                m = dict(s._mapping)
                by_pk[m.pop("run_pk")]["results"].append({k: v for k, v in m.items() if k not in ("id", "position")})
    for r in found:
        del r["id"]
        r["started_at"], r["finished_at"] = _iso(r["started_at"]), _iso(r["finished_at"])
    return found
