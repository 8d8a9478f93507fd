"""A history database made by orch before figures were declared (tests/fixtures/
history_main_v5.sqlite3: made by main at schema version 5 with the fixture runs and a load
run) opens unchanged: its rows list and load, the declared figures' columns are added, and a
new run with the new figures is stored beside the old ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import sqlalchemy as sa
from orchestrator.history import store
from orchestrator.results import figures
from orchestrator.results.model import ResourceFit, RunResult

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OLD_IDS = {"20261124T125752Z-98f52a", "20261124T125749Z-781762", "20260101T000000Z-aaaaaa"}


def _old_db(tmp_path) -> str:
    path = tmp_path / "history.sqlite3"
    shutil.copy(FIXTURES / "history_main_v5.sqlite3", path)
    return str(path)


def test_a_database_made_by_main_opens_and_keeps_its_rows(tmp_path):
    db = _old_db(tmp_path)
    try:
        assert {r.run_id for r in store.list_runs(db)} == OLD_IDS
        grow = next(r for r in store.list_runs(db) if r.run_id == "20261124T125749Z-781762")
        assert [s.growth_mb_per_iter for s in grow.results] == [0.0, 1.00390625, 0.0]
        assert grow.results[1].threads_per_iter is None  # a column added since: empty for old rows
        assert isinstance(store.load_run("20261124T125752Z-98f52a", db), RunResult)
        assert [lv.position for lv in store.list_load_levels(db)] == [0, 1]
        db_engine = store.get_db_engine(db)
        assert store.current_version(db_engine) == store.SCHEMA_VERSION == 5
        columns = {c["name"] for c in sa.inspect(db_engine).get_columns("run_strategies")}
        for f in figures.stored("run"):
            assert f.column_name in columns
            assert set(f.ci_column_names or ()) <= columns
        load_columns = {c["name"] for c in sa.inspect(db_engine).get_columns("load_levels")}
        assert "core_h_per_audio_h" in load_columns
        assert {"floor_met", "floor_why"} <= load_columns  # a level's floor (added on open, schema)
        assert {(lv.floor_met, lv.floor_why) for lv in store.list_load_levels(db)} == {(None, None)}
    finally:
        store.dispose_db_engines()


def test_a_new_run_with_resources_is_stored_beside_the_old_ones(tmp_path):
    db = _old_db(tmp_path)
    data = json.loads((FIXTURES / "run_growing.json").read_text(encoding="utf-8"))
    result = RunResult.from_json(data)
    result.run_id = "new-1"
    s = result.results[0].summary
    assert s is not None
    s.core_h_per_audio_h = 0.25
    s.resources = {"threads": ResourceFit(start=4, end=13, growth_per_iter=1.0, ci95=[1.0, 1.0], verdict="growing")}
    try:
        store.save_run(result, db)
        found = {r.run_id: r for r in store.list_runs(db)}
        assert set(found) == OLD_IDS | {"new-1"}
        row = found["new-1"].results[0]
        assert (row.threads_per_iter, row.threads_ci_low, row.threads_verdict) == (1.0, 1.0, "growing")
        assert row.core_h_per_audio_h == 0.25 and row.fds_per_iter is None
        assert store.load_run("new-1", db).results[0].summary.resources["threads"].verdict == "growing"
    finally:
        store.dispose_db_engines()
