"""The history database is checked before anything runs: a file that is not SQLite (or
will not open) stops `orch soak` before its first worker, and a PostgreSQL URL whose driver
is missing names the extra to install (issue 18, items 7 and 8)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main


def _invoke(tmp: Path, argv: list[str]):
    return CliRunner().invoke(main, [a.replace("{tmp}", str(tmp)) for a in argv], prog_name="orch")


SOAK = """
name = "x"
out = "results"
[[matrix]]
name = "c"
strategies = ["restart"]
iters = 2
warmup = 0
engine_options = {ttft_ms = 1, token_ms = 0}
"""


@pytest.mark.parametrize("content, why", [
    (b"not a database at all\n", "is not a SQLite database (the file does not start with SQLite's header)"),
    (b"SQLite format 3\x00" + b"\xff" * 500, "cannot open history database --db {db}: file is not a database"),
])
def test_soak_refuses_an_unusable_database_before_the_first_worker(isolated, content, why):
    (isolated / "s.toml").write_text(SOAK, encoding="utf-8")
    (isolated / "notsqlite.db").write_bytes(content)
    res = _invoke(isolated, ["soak", "--config", "s.toml", "--db", "notsqlite.db"])
    assert res.exit_code == 2, res.output
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("orch: cannot start: "), lines
    assert why.format(db="notsqlite.db") in lines[0]
    assert "running" not in res.output and "no baseline" not in res.output
    assert not (isolated / "results").exists()  # no cell ran
    assert (isolated / "notsqlite.db").read_bytes() == content


def _truncated_history(path: Path) -> bytes:
    """A real history database cut to its first 8 KiB (a full disk, a copy cut short): it
    starts with SQLite's header, so only opening it tells."""
    from orchestrator.history import store

    whole = path.with_suffix(".whole")
    store.get_db_engine(str(whole))
    store.dispose_db_engines()
    content = whole.read_bytes()[:8192]
    path.write_bytes(content)
    return content


@pytest.mark.parametrize("argv", [
    ["run", "--strategy", "restart", "--iters", "2"],
    ["compare", "--strategies", "restart,recreate", "--iters", "2"],
    ["compare", "--engines", "calibration", "--strategies", "restart", "--iters", "2", "--no-limits"],
    ["load", "--rate", "5", "--requests", "3"],
    ["ab", "--a", "--leak-mb 0", "--b", "--leak-mb 1", "--strategies", "restart", "--iters", "2", "--rounds", "1"],
], ids=["run", "compare", "compare-engines", "load", "ab"])
def test_every_command_that_stores_refuses_a_damaged_database_before_the_first_worker(isolated, argv):
    content = _truncated_history(isolated / "cut.sqlite3")
    res = _invoke(isolated, [*argv, "--out", "out", "--db", "cut.sqlite3"])
    assert res.exit_code == 2, res.output
    lines = [line for line in res.stderr.splitlines() if not line.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("orch: cannot start: cannot open history database --db cut.sqlite3: "), lines
    assert lines[0].endswith("; or pass --no-history") and "sqlalche.me" not in lines[0]
    assert not list((isolated / "out").rglob("*.jsonl")) and not list((isolated / "out").rglob("*.log"))  # no worker
    assert (isolated / "cut.sqlite3").read_bytes() == content


def test_a_postgres_url_without_its_driver_names_the_extra(isolated, monkeypatch):
    for module in ("psycopg", "psycopg2"):  # as if neither were installed: find_spec says None
        monkeypatch.setitem(sys.modules, module, None)
    res = _invoke(isolated, ["run", "--strategy", "restart", "--db", "postgresql://u:secret@db.example/orch",
                             "--out", "out"])
    assert (res.exit_code, res.stderr) == (2, (
        "orch: cannot start: history database --db postgresql://u:***@db.example/orch: the PostgreSQL driver "
        "(psycopg or psycopg2) is not installed: pip install -e '.[postgres]' in the orch checkout (the extra "
        "installs psycopg); or pass --no-history\n"))
    assert not (isolated / "out").exists()
    res = _invoke(isolated, ["history", "--db", "postgresql+psycopg://db.example/orch"])
    assert res.exit_code == 2 and "the PostgreSQL driver (psycopg) is not installed" in res.stderr


def test_the_history_names_this_host_as_the_host_block_does():
    from orchestrator.history import store
    from orchestrator.run import hostinfo

    assert store.this_host() == hostinfo.hostname() == hostinfo.host_facts()["hostname"]
