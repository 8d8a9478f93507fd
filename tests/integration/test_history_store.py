"""History store: round trip, queries, migrations, and two writers at once — on SQLite
always, and on a throwaway PostgreSQL server when the binaries are installed (else those
cases skip with the reason)."""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from orchestrator.engines.chatllm.identity import lib_hash
from orchestrator.history import store
from orchestrator.results.load_run import LoadRun
from orchestrator.results.model import Outcome, RunResult, SoakInfo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def typed(name: str) -> RunResult:
    return RunResult.from_json(fixture(name))


# --- a throwaway PostgreSQL server ------------------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / name).exists():
            return str(root / name)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg_server():
    """(socket dir, port, user) of a PostgreSQL server started in a temp dir for this session."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg (v3) not installed: pip install 'psycopg[binary]'")
    base = Path(tempfile.mkdtemp(prefix="orch-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to start the server as")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data, port = base / "data", _free_port()
    try:
        subprocess.run(
            run_as + [initdb, "-D", str(data), "-A", "trust", "-U", "orch", "-N"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            run_as
            + [
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(base / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-k {base} -p {port} -c listen_addresses='' -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=90,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        log = (base / "log").read_text(errors="replace")[-2000:] if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"could not start a throwaway PostgreSQL server: {exc} {getattr(exc, 'stderr', '')!r} {log}")
    yield str(base), port, "orch"
    subprocess.run(run_as + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, timeout=60)
    shutil.rmtree(base, ignore_errors=True)


def _pg_url(server, dbname: str) -> str:
    sockdir, port, user = server
    return f"postgresql://{user}@/{dbname}?host={sockdir}&port={port}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    if request.param == "sqlite":
        yield str(tmp_path / "history.sqlite3")
        return
    server = request.getfixturevalue("pg_server")
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(_pg_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    yield _pg_url(server, name)
    store.dispose_db_engines()
    with psycopg.connect(_pg_url(server, "postgres"), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _with_id(result: RunResult, run_id: str, started_at: str | None = None) -> RunResult:
    out = copy.deepcopy(result)
    out.run_id = run_id
    if started_at:
        out.started_at = started_at
    return out


# --- round trip and queries ----------------------------------------------------------------------
def test_round_trip_is_the_whole_result(db):
    grow = typed("run_growing.json")
    store.save_run(grow, db)
    assert store.load_run(grow.run_id, db) == grow
    assert store.load_run("latest", db) == grow
    assert store.load_run(grow.run_id[:12], db) == grow  # a unique prefix
    assert store.load_run("latest", db).to_json() == grow.to_json()


def test_a_run_stored_as_orch_run_1_still_loads(db):
    """A row written before the typed model: the fixture's orch.run/1 JSON as the old
    save_run stored it (json.dumps of the dict), read back as a RunResult."""
    raw = fixture("run_growing.json")
    assert raw["schema"] == "orch.run/1"
    raw["soak"] = {
        "name": "nightly",
        "config": "/srv/nightly.toml",
        "matrix_key": "nightly/a",
        "cell": {"name": "a", "strategies": ["recreate"]},
        "outcome": "regression",
        "regressions": [
            {
                "kind": "growth",
                "strategy": "recreate",
                "model": None,
                "growth_mb_per_iter": 1.5,
                "baseline_ci_high": 0.2,
                "message": "m",
            }
        ],
        "notes": ["n"],
        "baseline_run_ids": ["r-1"],
        "error": None,
    }
    store.save_run(typed("run_crashed.json"), db)  # the tables, made by this orch
    with store._writer(store.get_db_engine(db)).begin() as conn:
        conn.execute(
            store.runs.insert().values(
                run_id=raw["run_id"],
                started_at=store.parse_time(raw["started_at"]),
                stored_at=store._utcnow(),
                kind="soak",
                engine="calibration",
                status="ok",
                matrix_key="nightly/a",
                outcome="regression",
                result=json.dumps(raw, ensure_ascii=False, default=str),
            )
        )
    loaded = store.load_run(raw["run_id"], db)
    assert loaded == RunResult.from_json(raw)
    assert loaded.schema == "orch.run/2" and [r.strategy for r in loaded.results] == [
        "restart",
        "recreate",
        "fresh-process",
    ]
    assert loaded.results[1].summary.growth_mb_per_iter == raw["results"][1]["summary"]["growth_mb_per_iter"]
    assert loaded.soak.outcome is Outcome.REGRESSION and loaded.soak.baseline_run_ids == ["r-1"]
    assert loaded.soak.regressions[0].baseline_ci_high == 0.2
    # the soak block is written back with the keys it was read with
    assert loaded.to_json()["soak"] == raw["soak"]
    assert list(loaded.to_json()["soak"]) == list(raw["soak"])
    assert list(loaded.to_json()["soak"]["regressions"][0]) == list(raw["soak"]["regressions"][0])


def test_saving_a_run_again_replaces_it(db):
    grow = typed("run_growing.json")
    store.save_run(grow, db)
    grow2 = copy.deepcopy(grow)
    grow2.soak = SoakInfo(matrix_key="nightly/a", outcome=Outcome.OK)
    store.save_run(grow2, db)
    listed = store.list_runs(db)
    assert len(listed) == 1 and listed[0].kind == "soak" and listed[0].matrix_key == "nightly/a"
    assert listed[0].outcome == "ok"
    assert len(listed[0].results) == 3
    assert store.load_run("latest", db).soak.outcome is Outcome.OK


def test_list_runs_filters_and_columns(db):
    grow, crash = typed("run_growing.json"), typed("run_crashed.json")
    store.save_run(_with_id(grow, "r-old", "2020-01-01T00:00:00+00:00"), db)
    store.save_run(grow, db)
    chat = _with_id(crash, "r-chat")
    chat.engine = {"name": "chatllm", "threads": 2}
    chat.plan["models"] = ["/models/qwen3-asr-0.6b.bin"]
    store.save_run(chat, db)

    everything = store.list_runs(db)
    assert all(isinstance(r, store.StoredRun) for r in everything)
    assert [r.run_id for r in everything][-1] == "r-old"  # newest first
    assert {r.run_id for r in everything} == {"r-old", grow.run_id, "r-chat"}
    assert everything[-1].started_at == "2020-01-01T00:00:00+00:00" and everything[-1].kind == "compare"

    recent = store.list_runs(db, since="365d")
    assert "r-old" not in {r.run_id for r in recent}
    assert {r.run_id for r in store.list_runs(db, since="2019-12-31")} == {r.run_id for r in everything}

    chatllm = store.list_runs(db, engine="chatllm")
    assert [r.run_id for r in chatllm] == ["r-chat"]
    assert chatllm[0].models == "qwen3-asr-0.6b.bin" and chatllm[0].status == "crashed"
    assert [r.run_id for r in store.list_runs(db, model="qwen3")] == ["r-chat"]

    recreate = store.list_runs(db, strategy="recreate")
    assert {r.run_id for r in recreate} == {"r-old", grow.run_id}
    row = recreate[0].results
    assert len(row) == 1 and row[0].strategy == "recreate" and row[0].verdict == "growing"
    assert row[0].growth_mb_per_iter == pytest.approx(grow.results[1].summary.growth_mb_per_iter)
    assert row[0].growth_ci_low <= row[0].growth_mb_per_iter <= row[0].growth_ci_high

    crashed = store.list_runs(db, engine="chatllm")[0].results
    assert crashed[0].status == "crashed" and crashed[0].verdict is None
    assert crashed[0].growth_mb_per_iter is None


def test_missing_run_is_a_clear_error(db):
    with pytest.raises(store.RunNotFound, match="empty"):
        store.load_run("latest", db)
    store.save_run(typed("run_growing.json"), db)
    with pytest.raises(store.RunNotFound, match="no run"):
        store.load_run("nope", db)


def test_parse_since():
    assert store.parse_since(None) is None
    assert (
        abs((store.parse_time("2025-03-01T10:00:00+02:00") - store.parse_since("2025-03-01T08:00:00")).total_seconds())
        == 0
    )
    with pytest.raises(ValueError):
        store.parse_since("last tuesday")


def test_db_location_from_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("ORCH_DB", str(tmp_path / "env.db"))
    assert store.resolve_url(None) == f"sqlite:///{tmp_path / 'env.db'}"
    assert store.resolve_url(str(tmp_path / "x.db")).endswith("x.db")
    monkeypatch.delenv("ORCH_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert store.resolve_url(None) == f"sqlite:///{tmp_path / 'data' / 'orch' / 'history.sqlite3'}"
    assert store.resolve_url("postgresql://u:pw@h/db").startswith("postgresql+psycopg")
    assert store.redact("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"


# --- migrations ------------------------------------------------------------------------------------
def test_fresh_database_is_at_the_latest_version(db):
    store.save_run(typed("run_growing.json"), db)
    db_engine = store.get_db_engine(db)
    assert store.current_version(db_engine) == store.SCHEMA_VERSION
    assert [n for n, _, _ in store.MIGRATIONS] == list(range(1, store.SCHEMA_VERSION + 1))


def test_old_database_is_migrated_and_keeps_its_rows(db):
    url = store.resolve_url(db)
    db_engine = sa.create_engine(url)
    assert store.migrate(db_engine, target=1) == 1
    with db_engine.begin() as conn:  # a run stored by version 1 (no outcome, no CER)
        pk = conn.execute(
            sa.text(
                "INSERT INTO runs (run_id, started_at, stored_at, kind, engine, status, result) "
                "VALUES ('old-1', '2024-01-01 00:00:00', '2024-01-01 00:00:00', 'run', 'calibration', 'ok', "
                '\'{"schema": "orch.run/1", "run_id": "old-1", "results": []}\') RETURNING id'
            )
        ).scalar_one()
        conn.execute(
            sa.text(
                f"INSERT INTO run_strategies (run_pk, position, strategy, status) VALUES ({pk}, 0, 'restart', 'ok')"
            )
        )
    assert "outcome" not in {c["name"] for c in sa.inspect(db_engine).get_columns("runs")}
    db_engine.dispose()

    store.save_run(typed("run_growing.json"), db)  # opening it migrates
    db_engine = store.get_db_engine(db)
    assert store.current_version(db_engine) == store.SCHEMA_VERSION
    cols = {c["name"] for c in sa.inspect(db_engine).get_columns("run_strategies")}
    assert "cer_mean" in cols
    assert store.load_run("old-1", db) == RunResult(run_id="old-1")
    assert {r.run_id for r in store.list_runs(db)} == {"old-1", fixture("run_growing.json")["run_id"]}
    assert store.migrate(db_engine) == store.SCHEMA_VERSION  # idempotent


def test_a_row_that_is_no_orch_result_is_named(db):
    store.save_run(typed("run_growing.json"), db)  # the tables
    with store._writer(store.get_db_engine(db)).begin() as conn:
        conn.execute(
            store.runs.insert().values(
                run_id="odd-1", stored_at=store._utcnow(), kind="run", result='{"run_id": "odd-1"}'
            )
        )
    with pytest.raises(store.ResultError) as err:
        store.load_run("odd-1", db)
    assert str(err.value) == (
        "stored run odd-1 is not an orch result: unknown result schema None: this orch reads orch.run/1, orch.run/2"
    )


# --- two writers at once ---------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import json, os, sys, time
    from orchestrator.history import store
    from orchestrator.results.model import RunResult
    db, tag, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    result = RunResult.from_json(json.load(open(sys.argv[5])))
    while not os.path.exists(go):
        time.sleep(0.005)
    for i in range(n):
        result.run_id = f"{tag}-{i:03d}"
        result.host["writer"] = tag
        store.save_run(result, db)
    print("done", tag)
""")


@pytest.mark.slow
def test_two_processes_writing_at_once_lose_nothing(db, tmp_path):
    """Two overlapping cron runs: both open a fresh database (both try to migrate it) and
    store runs at the same time; every run must be there, whole."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    go = tmp_path / "go"
    n = 12
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), db, tag, str(n), str(go), str(FIXTURES / "run_growing.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    time.sleep(0.3)
    go.write_text("")
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    listed = store.list_runs(db)
    ids = sorted(r.run_id for r in listed)
    assert ids == sorted([f"a-{i:03d}" for i in range(n)] + [f"b-{i:03d}" for i in range(n)])
    assert all(len(r.results) == 3 for r in listed)
    for run_id in ("a-000", "b-011"):
        loaded = store.load_run(run_id, db)
        assert loaded.host["writer"] == run_id[0] and len(loaded.results[0].iterations) == 12
    if "://" not in db:
        with sa.create_engine(f"sqlite:///{db}").connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


# --- hosts and builds ------------------------------------------------------------------------------
ELF_A = b"\x7fELF" + bytes(1000)  # lib_hash: df5831be2aeb
ELF_B = b"\x7fELF" + bytes(999) + b"\x01"  # the same size, one byte else: 436baee6fb68


def test_lib_hash_is_the_first_4_mib_and_the_size(tmp_path):
    a, b, big = tmp_path / "a.so", tmp_path / "b.so", tmp_path / "big.so"
    a.write_bytes(ELF_A)
    b.write_bytes(ELF_B)
    big.write_bytes(bytes(range(256)) * (5 << 12))  # 5 MiB: what follows the first 4 MiB is not read
    assert (lib_hash(a), lib_hash(b), lib_hash(big)) == (
        "df5831be2aeb",
        "436baee6fb68",
        "e271d1db6ef0",
    )
    assert lib_hash(tmp_path / "missing.so") is None and lib_hash(None) is None


def test_build_identity(tmp_path):
    a, b = tmp_path / "a.so", tmp_path / "b.so"
    a.write_bytes(ELF_A)
    b.write_bytes(ELF_B)
    chat = {"name": "chatllm", "commit": "4a4310e165ca", "lib": str(a), "threads": 2}
    assert store.build_identity({"name": "calibration", "leak_mb": 1.0}) == "calibration"
    assert store.build_identity(chat) == "4a4310e165ca+lib:df5831be2aeb"
    assert store.build_identity(chat, hash_lib=False) == "4a4310e165ca"
    assert store.build_identity(dict(chat, commit=None)) == "lib:df5831be2aeb"
    assert store.build_identity(dict(chat, lib=str(tmp_path / "gone.so"))) == "4a4310e165ca"
    assert store.build_identity({"name": "chatllm"}) is None and store.build_identity({}) is None
    # orch ab: the sides' differences under engine.ab (a patched working tree: the same commit)
    ab = {
        "name": "chatllm",
        "commit": "4a4310e165ca",
        "threads": 2,
        "ab": {"a": {"chatllm_dir": "/up", "lib": str(a)}, "b": {"chatllm_dir": "/fix", "lib": str(b)}},
    }
    assert store.build_identity(ab) == "A 4a4310e165ca+lib:df5831be2aeb | B 4a4310e165ca+lib:436baee6fb68"
    assert store.build_identity(ab, hash_lib=False) == "4a4310e165ca"
    threads = {"name": "chatllm", "commit": "c0ffee", "ab": {"a": {"threads": 1}, "b": {"threads": 2}}}
    assert store.build_identity(threads) == "c0ffee"
    leak = {"name": "calibration", "ab": {"a": {"leak_mb": 0.0}, "b": {"leak_mb": 1.0}}}
    assert store.build_identity(leak) == "calibration"


def test_runs_carry_their_host_and_build_and_list_by_host(db, tmp_path):
    lib = tmp_path / "libchatllm.so"
    lib.write_bytes(ELF_A)
    grow = typed("run_growing.json")  # host bench-1, calibration
    other = _with_id(grow, "r-bench-2")
    other.host = dict(other.host, hostname="bench-2")
    other.engine = {"name": "chatllm", "commit": "4a4310e165ca", "lib": str(lib)}
    nameless = _with_id(grow, "r-nameless")
    nameless.host = {}
    for r in (grow, other, nameless):
        store.save_run(r, db)
    lib.write_bytes(ELF_B)  # rebuilt after the run was stored: the row keeps the build it ran
    by_id = {r.run_id: (r.host, r.build) for r in store.list_runs(db)}
    assert by_id == {
        grow.run_id: ("bench-1", "calibration"),
        "r-bench-2": ("bench-2", "4a4310e165ca+lib:df5831be2aeb"),
        "r-nameless": (None, "calibration"),
    }
    assert [r.run_id for r in store.list_runs(db, host="bench-2")] == ["r-bench-2"]
    assert [r.run_id for r in store.list_runs(db, host="bench-1")] == [grow.run_id]
    assert store.list_runs(db, host="bench") == []  # the hostname exactly
    assert store.this_host() == __import__("platform").node()


def test_migration_3_fills_host_and_build_from_the_stored_results(db):
    """A database at version 2: its rows get host and build from their JSON (the head of it
    when host and engine are there, else the whole), without a library hash."""
    url = store.resolve_url(db)
    db_engine = sa.create_engine(url)
    assert store.migrate(db_engine, target=2) == 2
    grow = fixture("run_growing.json")
    chat = dict(
        grow,
        run_id="old-chat",
        engine={"name": "chatllm", "commit": "4a4310e165ca", "lib": "/nonexistent/libchatllm.so"},
        host=dict(grow["host"], hostname="bench-2"),
    )
    late = {
        "schema": "orch.run/1",
        "run_id": "old-late",
        "note": "x" * (store.HEAD_CHARS + 10),
        "host": {"hostname": "far"},
        "engine": {"name": "calibration"},
    }  # host past the head
    rows = {
        "old-calib": json.dumps(dict(grow, run_id="old-calib")),
        "old-chat": json.dumps(chat),
        "old-late": json.dumps(late),
        "old-bare": json.dumps({"schema": "orch.run/1", "run_id": "old-bare"}),
        "old-junk": "not json at all",
    }
    with db_engine.begin() as conn:
        for run_id, text in rows.items():
            conn.execute(
                sa.text(
                    "INSERT INTO runs (run_id, started_at, stored_at, kind, engine, status, result) "
                    "VALUES (:r, '2024-01-01 00:00:00', '2024-01-01 00:00:00', 'run', 'x', 'ok', :t)"
                ),
                {"r": run_id, "t": text},
            )
    assert "host" not in {c["name"] for c in sa.inspect(db_engine).get_columns("runs")}
    assert store.migrate(db_engine) == store.SCHEMA_VERSION >= 3
    with db_engine.connect() as conn:
        got = {
            r.run_id: (r.host, r.build)
            for r in conn.execute(sa.select(store.runs.c.run_id, store.runs.c.host, store.runs.c.build))
        }
    db_engine.dispose()
    assert got == {
        "old-calib": ("bench-1", "calibration"),
        "old-chat": ("bench-2", "4a4310e165ca"),
        "old-late": ("far", "calibration"),
        "old-bare": (None, None),
        "old-junk": (None, None),
    }
    assert {c["name"] for c in sa.inspect(store.get_db_engine(db)).get_indexes("runs")} >= {"ix_runs_host_started"}
    assert [r.run_id for r in store.list_runs(db, host="bench-2")] == ["old-chat"]


# --- load runs (migration 5) ---------------------------------------------------------------------
def test_a_load_run_round_trips_with_its_levels_and_memory(db):
    from tests.load_runs import load_run

    run = load_run(n=32)  # 32 a level: the median stands, p90 (needs 64) and p99 (662) are None
    store.save_load_run(run, db)
    back = store.load_any(run.run_id, db)
    assert isinstance(back, LoadRun)
    assert back.to_json() == json.loads(json.dumps(run.to_json()))  # the whole document (tuples as lists)
    (listed,) = store.list_runs(db)
    assert (listed.run_id, listed.kind, listed.engine, listed.strategies, listed.status, listed.host) == (
        run.run_id,
        "load",
        "calibration",
        "restart",
        "ok",
        "testhost",
    )
    assert listed.results == []
    below, above = store.list_load_levels(db)
    assert (below.arrivals, below.offered_rate, below.concurrency, below.workers) == ("8/s constant", 8.0, None, 1)
    assert (below.sent, below.ok, below.failed, below.timed_out, below.dropped, below.cancelled) == (32, 32, 0, 0, 0, 0)
    assert (below.latency_ms_p99, below.ttft_ms_p99, below.queue_wait_ms_p99) == (None, None, None)
    assert below.throughput_rps == 32 / 3.9375 and below.goodput_rps == 32 / 3.9375
    assert (below.saturated, below.valid, below.lateness_ms_p99) == (False, True, None)
    assert (below.pool_mb_per_1000, below.pool_ci_low, below.pool_ci_high) == (2.0, 1.5, 2.5)
    assert (above.latency_ms_p99, above.ttft_ms_p99, above.queue_wait_ms_p99) == (None, None, None)
    assert (above.throughput_rps, above.goodput_rps, above.saturated) == (16.0, 1.0, True)
    with store.get_db_engine(db).connect() as conn:
        row = conn.execute(sa.select(store.load_levels).where(store.load_levels.c.position == 1)).one()
        assert (row.latency_ms_p50, row.latency_ms_p90, row.rtf_p99, row.ttft_dispatch_ms_p99) == (
            546.875,
            None,
            None,
            None,
        )
        kept = conn.execute(sa.select(store.load_runs)).one()
        assert (kept.strategy, kept.workers, kept.requests_per_level, kept.slo, kept.interrupted) == (
            "restart",
            1,
            32,
            "latency_ms=100",
            False,
        )
        assert conn.execute(sa.select(sa.func.count()).select_from(store.load_memory)).scalar_one() == 2


def test_saving_a_load_run_again_replaces_it_and_its_levels(db):
    from tests.load_runs import load_run

    store.save_load_run(load_run(), db)
    store.save_load_run(load_run(rates=(8.0,)), db)
    assert [lv.arrivals for lv in store.list_load_levels(db)] == ["8/s constant"]
    with store.get_db_engine(db).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(store.load_memory)).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(store.load_runs)).scalar_one() == 1


def test_load_levels_filter_and_keep_run_and_level_order(db):
    from tests.load_runs import load_run

    store.save_load_run(load_run("20260101T000000Z-aaaaaa", started_at="2026-01-01T00:00:00+00:00"), db)
    store.save_load_run(load_run("20260102T000000Z-bbbbbb", started_at="2026-01-02T00:00:00+00:00"), db)
    store.save_run(typed("run_growing.json"), db)  # not a load run: not listed
    found = store.list_load_levels(db)
    assert [(lv.run_id[-6:], lv.position) for lv in found] == [("bbbbbb", 0), ("bbbbbb", 1), ("aaaaaa", 0), ("aaaaaa", 1)]
    assert [lv.run_id[-6:] for lv in store.list_load_levels(db, limit=1)] == ["bbbbbb", "bbbbbb"]
    assert store.list_load_levels(db, host="elsewhere") == []


def test_migration_5_adds_the_load_tables_to_a_version_4_database(db):
    url = store.resolve_url(db)
    db_engine = sa.create_engine(url)
    assert store.migrate(db_engine, target=4) == 4
    assert not sa.inspect(db_engine).has_table("load_levels")
    db_engine.dispose()
    store.save_run(typed("run_growing.json"), db)  # opening it migrates
    db_engine = store.get_db_engine(db)
    assert store.current_version(db_engine) == 5
    inspector = sa.inspect(db_engine)
    assert {"load_runs", "load_levels", "load_memory"} <= set(inspector.get_table_names())
    cols = {c["name"] for c in inspector.get_columns("load_levels")}
    assert {"latency_ms_p99", "ttft_dispatch_ms_p50", "rtf_p90", "queue_wait_ms_p99", "lateness_ms_p99"} <= cols
    assert {c["name"] for c in inspector.get_columns("load_memory")} == {
        "id", "level_pk", "who", "mb_per_1000", "ci_low", "ci_high", "requests", "samples",
    }  # fmt: skip
    assert [r.run_id for r in store.list_runs(db)] == [fixture("run_growing.json")["run_id"]]
