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

The store's jobs live in their own modules; this one is their public face (what commands,
studies and tests import as `store`):
- history/schema.py: the tables, the migrations, the declared figures' columns;
- history/connect.py: where the database is, the checks that say why it cannot be used, the
  SQLAlchemy engine per URL;
- history/builds.py: the host and engine build a run carries;
- history/run_rows.py: a RunResult's rows, and reading them back;
- history/load_rows.py: a load run's rows, and reading them back.

Hosts: each run row carries the host it ran on (the result's host.hostname) and the engine
build's identity (build_identity), so one database fed by several machines keeps their
series apart (changepoints.series_of, `orch history --host`, the soak's baseline).
"""

from __future__ import annotations

from orchestrator.history.builds import (
    HEAD_CHARS,
    build_identity,
    hostname_of,
    this_host,
)
from orchestrator.history.connect import (
    DEFAULT_FILENAME,
    ENV_VAR,
    POSTGRES_EXTRA,
    SQLITE_HEADER,
    db_problem,
    default_db_path,
    dispose_db_engines,
    get_db_engine,
    open_problem,
    redact,
    resolve_url,
    usable_problem,
)
from orchestrator.history.load_rows import StoredLoadLevel, list_load_levels, load_any, save_load_run
from orchestrator.history.run_rows import (
    RUN_COLUMNS,
    STRATEGY_COLUMNS,
    RunNotFound,
    StoredRun,
    StoredStrategy,
    declared_values,
    list_runs,
    load_run,
    parse_since,
    parse_time,
    run_kind,
    run_status,
    save_run,
)
from orchestrator.history.run_rows import _utcnow as _utcnow
from orchestrator.history.schema import (
    DRIFT_COLUMNS,
    LOAD_PERCENTILE_FIGURES,
    MIGRATIONS,
    SCHEMA_VERSION,
    current_version,
    declared_columns,
    delete_run,
    load_levels,
    load_memory,
    load_runs,
    metadata,
    migrate,
    run_strategies,
    runs,
    schema_version,
    writer,
)
from orchestrator.history.schema import writer as _writer
from orchestrator.results.model import ResultError

__all__ = [
    "DEFAULT_FILENAME",
    "DRIFT_COLUMNS",
    "ENV_VAR",
    "HEAD_CHARS",
    "LOAD_PERCENTILE_FIGURES",
    "MIGRATIONS",
    "POSTGRES_EXTRA",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "SQLITE_HEADER",
    "STRATEGY_COLUMNS",
    "ResultError",
    "RunNotFound",
    "StoredLoadLevel",
    "StoredRun",
    "StoredStrategy",
    "_utcnow",
    "_writer",
    "build_identity",
    "current_version",
    "db_problem",
    "declared_columns",
    "declared_values",
    "default_db_path",
    "delete_run",
    "dispose_db_engines",
    "get_db_engine",
    "hostname_of",
    "list_load_levels",
    "list_runs",
    "load_any",
    "load_levels",
    "load_memory",
    "load_run",
    "load_runs",
    "metadata",
    "migrate",
    "open_problem",
    "parse_since",
    "parse_time",
    "redact",
    "resolve_url",
    "usable_problem",
    "run_kind",
    "run_status",
    "run_strategies",
    "runs",
    "save_load_run",
    "save_run",
    "schema_version",
    "this_host",
    "writer",
]
