"""The history database: every `run`, `compare` and `soak` result, kept whole (its
RunResult's JSON) beside a few columns to query by. save_run takes a RunResult, load_run
gives one back (rows stored as orch.run/1 read too), list_runs gives typed rows (StoredRun).

Where: `--db` (a file path, `sqlite:///…`, or `postgresql://…`), else the environment
variable ORCH_DB, else `history.sqlite3` in the user's data directory (platformdirs).
All statements go through SQLAlchemy 2 Core, so one code path serves SQLite and PostgreSQL.

Two writers at once (overlapping cron runs) are safe: each run is stored in one transaction;
on SQLite the file is in WAL mode, write transactions start with BEGIN IMMEDIATE (a writer
waits for the other instead of failing half way) and a busy timeout of 60 s; on PostgreSQL
the row lock on `schema_version` serialises migrations and transactions do the rest.

Schema: versioned in `schema_version` (one row), brought up to date by MIGRATIONS, an ordered
list applied once each, in one transaction, the first time a process opens the database.

Hosts: each run row carries the host it ran on (the result's host.hostname) and the engine
build's identity (build_identity), so one database fed by several machines keeps their
series apart (changepoints.series_of, `orch history --host`, the soak's baseline).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import importlib.util
import json
import os
import platform
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from orchestrator.errors import OrchError
from orchestrator.results import figures
from orchestrator.results.load_run import LoadLevel, LoadRun, is_load_document
from orchestrator.results.model import ResultError, RunResult, StrategyResult

ENV_VAR = "ORCH_DB"
DEFAULT_FILENAME = "history.sqlite3"

# --- the current schema (what every migration below adds up to) ------------------------
metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("version", sa.Integer, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.String(64), nullable=False, unique=True),
    sa.Column("started_at", sa.DateTime, index=True),  # UTC, naive
    sa.Column("finished_at", sa.DateTime),
    sa.Column("stored_at", sa.DateTime, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # run | compare | soak | load
    sa.Column("engine", sa.String(64)),
    sa.Column("scenario", sa.String(32)),
    sa.Column("models", sa.Text),  # comma-separated labels
    sa.Column("strategies", sa.Text),  # comma-separated, in run order
    sa.Column("status", sa.String(16)),  # ok when every strategy is ok (or skipped), else the first other
    sa.Column("matrix_key", sa.String(255)),
    sa.Column("result", sa.Text, nullable=False),  # the full result JSON
    # migration 2
    sa.Column("outcome", sa.String(16)),  # soak: ok | regression | failed
    # migration 3
    sa.Column("host", sa.String(255)),  # the result's host.hostname
    sa.Column("build", sa.String(255)),  # build_identity(): commit and/or library hash, "calibration"
    sa.Index("ix_runs_matrix_key_started", "matrix_key", "started_at"),
    sa.Index("ix_runs_host_started", "host", "started_at"),
)

# the drift columns (migration 4): booleans and counts, no figures (results.drift)
DRIFT_COLUMNS = ("text_stable", "first_changed_at", "changed_iterations", "matches_baseline")


def declared_columns(kind: str = "run") -> list[sa.Column]:
    """The history columns of the declared figures (results.figures): each figure's value,
    its 95% CI's ends and its verdict where it has them. A figure declared later gets its
    columns when a database is opened (`_add_declared_columns`): no migration to write."""
    out: list[sa.Column] = []
    for f in figures.stored(kind):
        out.append(sa.Column(f.column_name, sa.Integer if f.nd == 0 else sa.Float))
        out += [sa.Column(name, sa.Float) for name in f.ci_column_names or ()]
        if f.verdict_column:
            out.append(sa.Column(f.verdict_column, sa.String(16)))
    return out


run_strategies = sa.Table(
    "run_strategies",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("strategy", sa.String(32), nullable=False, index=True),
    sa.Column("model", sa.Text),
    sa.Column("status", sa.String(16)),
    sa.Column("verdict", sa.String(16)),  # the memory verdict
    *declared_columns("run"),
    # migration 4: transcript drift under greedy decoding (orchestrator.results.drift)
    sa.Column("text_stable", sa.Boolean),
    sa.Column("first_changed_at", sa.Integer),
    sa.Column("changed_iterations", sa.Integer),
    sa.Column("matches_baseline", sa.Boolean),
)


# migration 5: `orch load` runs (a runs row of kind load, or soak for a soak's load cell),
# their levels, and memory per thousand requests per worker slot and for the pool
LOAD_PERCENTILE_FIGURES = ("ttft_ms", "ttft_dispatch_ms", "latency_ms", "rtf", "queue_wait_ms")


def _load_tables_v5(md: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """The load tables as migration 5 creates them. A later migration that adds a column
    appends it to the module's tables below (and ALTERs), never here: this is what
    version 5 was."""
    load_runs = sa.Table(
        "load_runs",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("strategy", sa.String(32)),
        sa.Column("workers", sa.Integer),
        sa.Column("requests_per_level", sa.Integer),
        sa.Column("duration_per_level_s", sa.Float),
        sa.Column("warmup_requests", sa.Integer),
        sa.Column("slo", sa.String(255)),
        sa.Column("max_lateness_ms", sa.Float),
        sa.Column("seed", sa.Integer),
        sa.Column("interrupted", sa.Boolean),
        sa.Column("error", sa.Text),
    )
    load_levels = sa.Table(
        "load_levels",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_pk", sa.Integer, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("arrivals", sa.String(64), nullable=False),
        sa.Column("offered_rate", sa.Float),  # open loop: requests/s; None for a closed loop
        sa.Column("concurrency", sa.Integer),  # closed loop: requests in flight
        sa.Column("sent", sa.Integer, nullable=False),
        sa.Column("ok", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("timed_out", sa.Integer, nullable=False),
        sa.Column("dropped", sa.Integer, nullable=False),
        sa.Column("cancelled", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("throughput_rps", sa.Float),
        sa.Column("audio_s_per_s", sa.Float),
        sa.Column("goodput_rps", sa.Float),
        *(sa.Column(f"{figure}_{p}", sa.Float) for figure in LOAD_PERCENTILE_FIGURES for p in ("p50", "p90", "p99")),
        sa.Column("lateness_ms_p50", sa.Float),
        sa.Column("lateness_ms_p99", sa.Float),
        sa.Column("saturated", sa.Boolean),
        sa.Column("valid", sa.Boolean),
        sa.Column("invalid_reason", sa.Text),
    )
    load_memory = sa.Table(
        "load_memory",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "level_pk", sa.Integer, sa.ForeignKey("load_levels.id", ondelete="CASCADE"), nullable=False, index=True
        ),
        sa.Column("who", sa.String(32), nullable=False),  # a worker slot (w1, w2, ...) or pool
        sa.Column("mb_per_1000", sa.Float),
        sa.Column("ci_low", sa.Float),
        sa.Column("ci_high", sa.Float),
        sa.Column("requests", sa.Integer),
        sa.Column("samples", sa.Integer),
    )
    return load_runs, load_levels, load_memory


load_runs, load_levels, load_memory = _load_tables_v5(metadata)
for _column in declared_columns("load"):
    if _column.name not in load_levels.c:
        load_levels.append_column(_column)


# --- migrations ---------------------------------------------------------------------------
def _m1_initial(conn) -> None:
    """runs and run_strategies as first released (no soak outcome, no CER)."""
    md = sa.MetaData()
    sa.Table(
        "runs",
        md,
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
        "run_strategies",
        md,
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


def _m3_host_and_build(conn) -> None:
    """runs.host and runs.build, filled for the rows already there from their stored JSON
    (host.hostname; the build from the engine block, without a library hash: the file may
    have been rebuilt since that run), and an index on (host, started_at)."""
    _add_column(conn, runs, "host")
    _add_column(conn, runs, "build")
    next(ix for ix in runs.indexes if ix.name == "ix_runs_host_started").create(conn)
    last = 0
    while True:  # in batches, reading only the head of each JSON (host and engine come first)
        batch = conn.execute(
            sa.select(runs.c.id, sa.func.substr(runs.c.result, 1, HEAD_CHARS).label("head"))
            .where(runs.c.id > last)
            .order_by(runs.c.id)
            .limit(500)
        ).all()
        if not batch:
            return
        updates = []
        for row in batch:
            host, engine = _head_blocks(row.id, row.head, conn)
            updates.append({"pk": row.id, "h": hostname_of(host), "b": build_identity(engine, hash_lib=False)})
        conn.execute(
            runs.update()
            .where(runs.c.id == sa.bindparam("pk"))
            .values(host=sa.bindparam("h"), build=sa.bindparam("b")),
            updates,
        )
        last = batch[-1].id


def _m4_text_drift(conn) -> None:
    """run_strategies' drift columns; rows stored before have none (their runs sampled)."""
    for name in ("text_stable", "first_changed_at", "changed_iterations", "matches_baseline"):
        _add_column(conn, run_strategies, name)


def _m5_load(conn) -> None:
    """`orch load` runs: load_runs, load_levels, load_memory, as version 5 defined them."""
    md = sa.MetaData()
    sa.Table("runs", md, sa.Column("id", sa.Integer, primary_key=True))  # the foreign keys' target, not created
    for table in _load_tables_v5(md):
        table.create(conn)


# ordered; a database at version N has had the first N applied. Append, never edit.
MIGRATIONS = [
    (1, "initial: runs, run_strategies", _m1_initial),
    (2, "runs.outcome, run_strategies.cer_mean, index on (matrix_key, started_at)", _m2_soak_outcome_and_cer),
    (3, "runs.host, runs.build (filled from the stored results), index on (host, started_at)", _m3_host_and_build),
    (4, "run_strategies: text_stable, first_changed_at, changed_iterations, matches_baseline", _m4_text_drift),
    (5, "load_runs, load_levels, load_memory (orch load)", _m5_load),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


# --- hosts and builds -------------------------------------------------------------------------
HEAD_CHARS = 16384  # a result's JSON starts schema, run_id, times, host, engine: all within this
LIB_HASH_BYTES = 4 << 20  # the library's first 4 MiB (ELF headers and the GNU build-id note) and its size


def this_host() -> str:
    """This machine's name, as the result's host.hostname records it (run.hostinfo.hostname
    makes the same call; the history does not import the running side)."""
    return platform.node()


def hostname_of(host) -> str | None:
    name = host.get("hostname") if isinstance(host, dict) else None
    return str(name)[:255] if name else None


def lib_hash(path) -> str | None:
    """sha256 (12 hex digits) of a library file's first 4 MiB and its size; None when it
    cannot be read. The first MiBs hold the ELF headers and the GNU build-id, which a
    relink changes; the size catches the rest."""
    try:
        with open(path, "rb") as f:
            head = f.read(LIB_HASH_BYTES)
            size = os.fstat(f.fileno()).st_size
    except (OSError, TypeError, ValueError):
        return None
    return hashlib.sha256(head + b"\0" + str(size).encode()).hexdigest()[:12]


def _one_build(engine: dict, hash_lib: bool) -> str | None:
    name = engine.get("name")
    if name == "calibration":
        return "calibration"
    if name != "chatllm":
        return str(name) if name else None
    parts = [str(engine["commit"])] if engine.get("commit") else []
    digest = lib_hash(engine.get("lib")) if hash_lib and engine.get("lib") else None
    if digest:
        parts.append(f"lib:{digest}")
    return "+".join(parts) or None


def build_identity(engine, hash_lib: bool = True) -> str | None:
    """The engine build a run used, from its result's engine block: `calibration`; for
    chatllm.cpp the checkout's commit and, when the library file can be read
    (`hash_lib`), `lib:` and its hash — `4a4310e165ca+lib:6849456a6502` (the commit alone
    does not tell a patched working tree from upstream; the hash does); None when neither
    is known. An A/B run whose sides differ in build: `A <a> | B <b>`."""
    if not isinstance(engine, dict):
        return None
    ab = engine.get("ab") if isinstance(engine.get("ab"), dict) else None
    common = {k: v for k, v in engine.items() if k != "ab"}
    if ab and isinstance(ab.get("a"), dict) and isinstance(ab.get("b"), dict):
        a = _one_build({**common, **ab["a"]}, hash_lib)
        b = _one_build({**common, **ab["b"]}, hash_lib)
        if a != b:
            return f"A {a or '?'} | B {b or '?'}"[:255]
        return a
    one = _one_build(common, hash_lib)
    return one[:255] if one else None


def _head_blocks(pk: int, head: str | None, conn) -> tuple[dict, dict]:
    """(host, engine) blocks of a stored result, read from the head of its JSON; the whole
    JSON when the head does not hold them; ({}, {}) for a row that is no JSON object."""
    decoder = json.JSONDecoder()
    found: dict[str, dict] = {}
    text, at = head or "", 0
    for key in ("host", "engine"):  # in this order, each a top-level key of the result
        m = re.compile(rf'"{key}":\s*').search(text, at)
        if m is None:
            break
        try:
            value, at = decoder.raw_decode(text, m.end())
        except ValueError:
            break
        found[key] = value if isinstance(value, dict) else {}
    if len(found) < 2:
        whole = conn.execute(sa.select(runs.c.result).where(runs.c.id == pk)).scalar()
        try:
            data = json.loads(whole or "")
        except ValueError:
            data = None
        data = data if isinstance(data, dict) else {}
        found = {}
        for k in ("host", "engine"):
            block = data.get(k)
            found[k] = block if isinstance(block, dict) else {}
    return found["host"], found["engine"]


# --- connecting ------------------------------------------------------------------------------
def default_db_path() -> Path:
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
        return Path(db[len("sqlite:///") :].split("?", 1)[0]).expanduser()
    return None


def db_problem(db: str | None = None, *, write: bool, source: str | None = None) -> str | None:
    """Why the history database named by --db (or ORCH_DB) cannot be used, in one line, or
    None. orch creates a database file, never the folders above it (a typo in the path
    would silently start a new history somewhere): the folder must exist. Reading (history,
    report) also needs the file to be there. The default location is orch's own: its folder
    is made when needed. An existing file must be a SQLite database (its header). A server
    URL needs its driver installed (postgresql://: psycopg, the `postgres` extra); the server
    itself is checked when connecting (open_problem)."""
    named, where = _named_db(db, source)
    if named is None:
        return None
    shown = f"{where} {redact(named)}" if where != ENV_VAR else f"{ENV_VAR}={redact(named)}"
    path = _sqlite_file(named)
    if path is None:
        return _driver_problem(named, shown)
    if path.is_dir():
        return f"history database {shown} is a folder, not a file"
    folder = path.absolute().parent
    if not folder.is_dir():
        return (
            f"history database {shown}: folder {folder} does not exist (orch creates the "
            "database file, not its folder: create it, or give another path)"
        )
    if not path.exists():
        if not write:
            return f"no history database at {shown} (nothing has been stored there)"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"history database {shown}: cannot create a file in {folder} (permission denied)"
    elif not os.access(path, os.R_OK | (os.W_OK if write else 0)):
        return f"history database {shown}: permission denied"
    elif not _looks_like_sqlite(path):
        return f"history database {shown} is not a SQLite database (the file does not start with SQLite's header)"
    return None


SQLITE_HEADER = b"SQLite format 3\x00"


def _looks_like_sqlite(path: Path) -> bool:
    """An empty file is one SQLite makes a database of; anything else starts with its header."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except OSError:
        return True  # the permission checks above speak for it
    return head in (b"", SQLITE_HEADER)


# how to install the PostgreSQL driver
POSTGRES_EXTRA = "pip install -e '.[postgres]' in the orch checkout (the extra installs psycopg)"


def _driver_problem(url: str, shown: str) -> str | None:
    """Why a server URL cannot be used here before any connection is tried: its driver is
    not installed. None for URLs whose driver is there (or not one orch knows)."""
    scheme = url.split("://", 1)[0].lower()
    base, _, driver = scheme.partition("+")
    if base not in ("postgres", "postgresql"):
        return None
    wanted = [driver] if driver else ["psycopg", "psycopg2"]
    if any(_module_exists(m) for m in wanted):
        return None
    return f"history database {shown}: the PostgreSQL driver ({' or '.join(wanted)}) is not installed: {POSTGRES_EXTRA}"


def _module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def open_problem(db: str | None = None, source: str | None = None) -> str | None:
    """Why the database cannot be opened and brought up to this orch's schema, in one line,
    or None: what db_problem cannot tell without connecting (a damaged file, a server that
    refuses). Opening it creates the file, so a command calls this when it is about to run."""
    named, where = _named_db(db, source)
    if named is None:
        shown = "the default history database"
    elif where == ENV_VAR:
        shown = f"history database {ENV_VAR}={redact(named)}"
    else:
        shown = f"history database {where} {redact(named)}"
    try:
        get_db_engine(db)
    except OrchError as exc:
        return exc.message
    except Exception as exc:  # the driver's own error: the one line it gives
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"cannot open {shown}: {first[0] if first else type(exc).__name__}"
    return None


def resolve_url(db: str | None = None) -> str:
    """A SQLAlchemy URL from --db / ORCH_DB / the default file. Only the default file's
    folder is created; a named file's folder must exist (db_problem), else OrchError."""
    named, _where = _named_db(db)
    if named is None:
        path = default_db_path().expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if "://" not in named:  # a file path
        why = db_problem(db, write=True)
        if why:
            raise OrchError(why)
        return f"sqlite:///{Path(named).expanduser().resolve()}"
    url = named
    if re.match(r"^(postgres|postgresql)://", url):
        # SQLAlchemy's default driver for postgresql:// is psycopg2; prefer psycopg 3 when present
        driver = _pg_driver()
        url = re.sub(r"^(postgres|postgresql)://", f"postgresql+{driver}://" if driver else "postgresql://", url)
    return url


def _pg_driver() -> str | None:
    for name, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
        if importlib.util.find_spec(name) is not None:
            return driver
    return None


def redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


# the SQLAlchemy engines (db_engine: the database's, never a speech engine), one per URL
_db_engines: dict[str, sa.Engine] = {}
_db_engines_lock = threading.Lock()


def _sqlite_db_engine(url: str) -> sa.Engine:
    db_engine = sa.create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(db_engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (below)
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 60000")
        if not url.endswith(":memory:") and url != "sqlite://":
            cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(db_engine, "begin")
    def _on_begin(conn):
        # writers take the write lock up front: a second writer waits (busy timeout)
        # instead of failing when it tries to upgrade a read lock
        immediate = conn.get_execution_options().get("orch_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return db_engine


def get_db_engine(db: str | None = None) -> sa.Engine:
    """The SQLAlchemy engine for this database, its schema brought up to date (once per process)."""
    url = resolve_url(db)
    with _db_engines_lock:
        db_engine = _db_engines.get(url)
        if db_engine is None:
            if url.startswith("sqlite"):
                db_engine = _sqlite_db_engine(url)
            else:
                db_engine = sa.create_engine(url, pool_pre_ping=True)
            migrate(db_engine)
            _db_engines[url] = db_engine
    return db_engine


def dispose_db_engines() -> None:
    with _db_engines_lock:
        for db_engine in _db_engines.values():
            db_engine.dispose()
        _db_engines.clear()


def _writer(db_engine: sa.Engine) -> sa.Engine:
    return db_engine.execution_options(orch_write=True)


def current_version(db_engine: sa.Engine) -> int:
    with db_engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return 0
        return conn.execute(sa.select(schema_version.c.version)).scalar() or 0


def migrate(db_engine: sa.Engine, target: int | None = None) -> int:
    """Apply the pending migrations (up to `target`); returns the version reached. Safe to
    call from two processes at once: the second waits for the first and finds nothing to do."""
    target = SCHEMA_VERSION if target is None else target
    for attempt in range(5):
        try:
            with _writer(db_engine).begin() as conn:
                schema_version.create(conn, checkfirst=True)
                if conn.execute(sa.select(schema_version.c.id)).first() is None:
                    conn.execute(schema_version.insert().values(id=1, version=0))
            break
        except (IntegrityError, ProgrammingError, OperationalError):
            # PostgreSQL: another process created the table or row between our check and
            # our statement; look again
            if attempt == 4:
                raise
    with _writer(db_engine).begin() as conn:
        version = conn.execute(
            sa.select(schema_version.c.version).where(schema_version.c.id == 1).with_for_update()
        ).scalar_one()
        for number, _description, apply in MIGRATIONS:
            if version < number <= target:
                apply(conn)
                version = number
        if version == SCHEMA_VERSION:
            _add_declared_columns(conn)
        conn.execute(schema_version.update().where(schema_version.c.id == 1).values(version=version))
    return version


def _add_declared_columns(conn) -> None:
    """Every declared figure's columns (declared_columns) that the tables lack: a figure
    declared since the database was made. Columns only ever added, never changed: the
    database stays readable by the orch that made it."""
    inspector = sa.inspect(conn)
    for table in (run_strategies, load_levels):
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.c:
            if column.name not in have:
                _add_column(conn, table, column.name)


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
    with _writer(get_db_engine(db)).begin() as conn:
        old = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == row["run_id"])).scalar()
        if old is not None:
            _delete_run(conn, old)
        pk = conn.execute(runs.insert().values(**row).returning(runs.c.id)).scalar_one()
        rows = [dict(_strategy_row(i, r), run_pk=pk) for i, r in enumerate(result.results)]
        if rows:
            conn.execute(run_strategies.insert(), rows)


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
    with _writer(get_db_engine(db)).begin() as conn:
        old = conn.execute(sa.select(runs.c.id).where(runs.c.run_id == row["run_id"])).scalar()
        if old is not None:
            _delete_run(conn, old)
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


def _delete_run(conn, pk: int) -> None:
    """A run row and every row that hangs from it (the foreign keys' ON DELETE CASCADE is
    not relied on: SQLite enforces it only with its pragma on)."""
    level_pks = sa.select(load_levels.c.id).where(load_levels.c.run_pk == pk).scalar_subquery()
    conn.execute(load_memory.delete().where(load_memory.c.level_pk.in_(level_pks)))
    conn.execute(load_levels.delete().where(load_levels.c.run_pk == pk))
    conn.execute(load_runs.delete().where(load_runs.c.run_pk == pk))
    conn.execute(run_strategies.delete().where(run_strategies.c.run_pk == pk))
    conn.execute(runs.delete().where(runs.c.id == pk))


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
    pool_mb_per_1000: float | None  # the pool's fit (one worker: that worker's)
    pool_ci_low: float | None
    pool_ci_high: float | None


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
    q = sa.select(runs.c.id).where(sa.exists().where(load_runs.c.run_pk == runs.c.id))
    for column, value in ((runs.c.engine, engine), (runs.c.host, host), (runs.c.matrix_key, matrix_key)):
        if value:
            q = q.where(column == value)
    if model:
        q = q.where(runs.c.models.contains(model, autoescape=True))
    start = parse_since(since)
    if start is not None:
        q = q.where(runs.c.started_at >= start)
    q = q.order_by(runs.c.started_at.desc(), runs.c.id.desc())
    if limit:
        q = q.limit(limit)
    with get_db_engine(db).connect() as conn:
        pks = [row.id for row in conn.execute(q)]
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
    out = []
    for r in sorted(rows, key=lambda r: (order[r.pk], r.position)):
        level_fits = fits.get(r.id, [])
        # the pool's fit; with one worker, that worker's (it is the pool)
        fit = next((m for m in level_fits if m.who == "pool"), level_fits[0] if len(level_fits) == 1 else None)
        out.append(
            StoredLoadLevel(
                run_id=r.run_id,
                started_at=_iso(r.started_at),
                host=r.host,
                build=r.build,
                kind=r.kind,
                engine=r.engine,
                models=r.models,
                strategy=r.strategy,
                workers=r.workers,
                status=r.status,
                matrix_key=r.matrix_key,
                position=r.position,
                arrivals=r.arrivals,
                offered_rate=r.offered_rate,
                concurrency=r.concurrency,
                sent=r.sent,
                ok=r.ok,
                failed=r.failed,
                timed_out=r.timed_out,
                dropped=r.dropped,
                cancelled=r.cancelled,
                throughput_rps=r.throughput_rps,
                goodput_rps=r.goodput_rps,
                latency_ms_p99=r.latency_ms_p99,
                ttft_ms_p99=r.ttft_ms_p99,
                queue_wait_ms_p99=r.queue_wait_ms_p99,
                lateness_ms_p99=r.lateness_ms_p99,
                saturated=r.saturated,
                valid=r.valid,
                pool_mb_per_1000=fit.mb_per_1000 if fit else None,
                pool_ci_low=fit.ci_low if fit else None,
                pool_ci_high=fit.ci_high if fit else None,
            )
        )
    return out


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
    for column, value in (
        (runs.c.engine, engine),
        (runs.c.matrix_key, matrix_key),
        (runs.c.kind, kind),
        (runs.c.status, status),
        (runs.c.host, host),
    ):
        if value:
            q = q.where(column == value)
    if model:
        q = q.where(runs.c.models.contains(model, autoescape=True))
    start = parse_since(since)
    if start is not None:
        q = q.where(runs.c.started_at >= start)
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
