"""A load level that ended short of its floor (--min-requests/--min-duration, load.length)
says so wherever the level is shown again: the history keeps the verdict (load_levels'
floor_met and floor_why, and the stored document), `history show` and `history load` print
the terminal's `too short for its claims: ...` line with the level, and the report (HTML and
Markdown) lists it under the levels' table. A level that met its floor, or had a fixed
length, says nothing."""

from __future__ import annotations

import html
import re

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.history import load_report, store
from orchestrator.load.length import Floor
from tests.load_runs import load_run

MET = Floor(requests=64).verdict(662, 82.7)
SHORT = Floor(requests=1000, seconds=60.0).verdict(662, 20.7)
WHY = "too short for its claims: 662 of 1000 requests completed (--min-requests), 20.7 of 60 s (--min-duration)"


def _run(floors=(MET, SHORT), run_id="20260101T000000Z-f100r0"):
    return load_run(run_id=run_id, rates=(8.0, 32.0), floors=list(floors) if floors else None)


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "history.sqlite3")
    yield path
    store.dispose_db_engines()


def test_the_verdict_is_the_terminals_line():
    assert SHORT["why"] == WHY and not SHORT["met"] and MET["met"] and MET["why"] is None
    run = _run()
    assert [lv.short_of_floor for lv in run.levels] == [None, WHY]
    assert [lv.short_of_floor for lv in _run(floors=None).levels] == [None, None]


def test_the_history_keeps_a_levels_floor(db):
    store.save_load_run(_run(), db)
    store.save_load_run(_run(floors=None, run_id="20260101T000000Z-f1xed0"), db)
    levels = {(lv.run_id, lv.arrivals): lv for lv in store.list_load_levels(db)}
    floored = [levels[("20260101T000000Z-f100r0", a)] for a in ("8/s constant", "32/s constant")]
    assert [(lv.floor_met, lv.floor_why) for lv in floored] == [(True, None), (False, WHY)]
    fixed = [lv for (run_id, _), lv in levels.items() if run_id == "20260101T000000Z-f1xed0"]
    assert len(fixed) == 2 and all(lv.floor_met is None and lv.floor_why is None for lv in fixed)

    back = store.load_any("20260101T000000Z-f100r0", db)
    assert [lv.floor for lv in back.levels] == [MET, SHORT]
    assert [lv.short_of_floor for lv in back.levels] == [None, WHY]


def test_history_show_and_load_print_the_line_with_the_level(db):
    store.save_load_run(_run(), db)
    shown = CliRunner().invoke(main, ["history", "show", "latest", "--db", db])
    assert shown.exit_code == 0, shown.output
    assert f"\n32/s constant: {WHY}\n" in shown.output
    assert "8/s constant: too short" not in shown.output

    listed = CliRunner().invoke(main, ["history", "load", "--db", db])
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines()[-1] == f"20260101T000000Z-f100r0 32/s constant: {WHY}"
    assert listed.output.count("too short for its claims") == 1

    as_json = CliRunner().invoke(main, ["history", "load", "--db", db, "--format", "json"])
    assert as_json.exit_code == 0 and "too short" not in as_json.output  # data only: no line under it


def _text(page: str) -> list[str]:
    """The page's text, a line per list item (tags dropped, entities read)."""
    page = re.sub(r"<style>.*?</style>|<img [^>]*>", "", page, flags=re.S)
    page = re.sub(r"</(li|p|h\d|tr)>", "\n", page)
    return [line.strip() for line in html.unescape(re.sub(r"<[^>]+>", "", page)).splitlines() if line.strip()]


def test_the_html_report_lists_it_under_the_levels():
    page = load_report.render_html(_run())
    text = _text(page)
    assert f"32/s constant: {WHY}" in text
    assert not any(line.startswith("8/s constant: too short") for line in text)
    assert page.index("<h2>Levels</h2>") < page.index("too short for its claims") < page.index("<h2>Latency</h2>")

    plain = _text(load_report.render_html(_run(floors=None)))
    assert not any("too short for its claims" in line for line in plain)


def test_the_markdown_report_lists_it_too():
    md = load_report.render_markdown(_run())
    assert md.endswith(f"\n- **32/s constant**: {WHY}\n")
    assert "too short" not in load_report.render_markdown(_run(floors=None))
