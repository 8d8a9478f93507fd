"""The history database's schema and its migrations: the tables (SQLAlchemy Core), the
ordered MIGRATIONS applied once each, and the declared figures' columns (results.figures)
added to a database made before they were declared. `migrate` brings a database up to date.
"""

from __future__ import annotations

import json
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from orchestrator.history.builds import HEAD_CHARS, build_identity, hostname_of
from orchestrator.results import figures

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
    return _load_runs_v5(md), _load_levels_v5(md), _load_memory_v5(md)


def _load_runs_v5(md: sa.MetaData) -> sa.Table:
    return sa.Table(
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


def _load_levels_v5(md: sa.MetaData) -> sa.Table:
    return sa.Table(
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


def _load_memory_v5(md: sa.MetaData) -> sa.Table:
    return sa.Table(
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


load_runs, load_levels, load_memory = _load_tables_v5(metadata)


for _column in declared_columns("load"):
    if _column.name not in load_levels.c:
        load_levels.append_column(_column)

# a level against its floor (--min-requests/--min-duration, load.length): met or not, and the
# `too short for its claims: ...` line when not; None for a fixed length and for levels stored
# before. Added to an older database when it is opened (_add_declared_columns), as a declared
# figure's columns are: columns only ever added.
LOAD_LEVEL_ADDED_COLUMNS = (sa.Column("floor_met", sa.Boolean), sa.Column("floor_why", sa.Text))
for _column in LOAD_LEVEL_ADDED_COLUMNS:
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


def writer(db_engine: sa.Engine) -> sa.Engine:
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
            with writer(db_engine).begin() as conn:
                schema_version.create(conn, checkfirst=True)
                if conn.execute(sa.select(schema_version.c.id)).first() is None:
                    conn.execute(schema_version.insert().values(id=1, version=0))
            break
        except (IntegrityError, ProgrammingError, OperationalError):
            # PostgreSQL: another process created the table or row between our check and
            # our statement; look again
            if attempt == 4:
                raise
    with writer(db_engine).begin() as conn:
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
    """Every declared figure's columns (declared_columns) and every column added since
    (LOAD_LEVEL_ADDED_COLUMNS) that the tables lack: made since the database was. Columns
    only ever added, never changed: the database stays readable by the orch that made it."""
    inspector = sa.inspect(conn)
    for table in (run_strategies, load_levels):
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.c:
            if column.name not in have:
                _add_column(conn, table, column.name)


def delete_run(conn, pk: int) -> None:
    """A run row and every row that hangs from it (the foreign keys' ON DELETE CASCADE is
    not relied on: SQLite enforces it only with its pragma on)."""
    level_pks = sa.select(load_levels.c.id).where(load_levels.c.run_pk == pk).scalar_subquery()
    conn.execute(load_memory.delete().where(load_memory.c.level_pk.in_(level_pks)))
    conn.execute(load_levels.delete().where(load_levels.c.run_pk == pk))
    conn.execute(load_runs.delete().where(load_runs.c.run_pk == pk))
    conn.execute(run_strategies.delete().where(run_strategies.c.run_pk == pk))
    conn.execute(runs.delete().where(runs.c.id == pk))
