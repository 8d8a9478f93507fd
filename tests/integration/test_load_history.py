"""`orch load` keeps its run like `orch run` does: <run dir>/load.json (and --json) with a
run_id, stored in the history database unless --no-history; `orch history` lists it,
`history load` gives its levels, `history show` and `orch report` read it (a stored one, or
its file). Calibration engine, a few quick requests."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.history import store

QUICK = ["--requests", "6", "--ttft-ms", "5", "--token-ms", "1"]


def _load(*args):
    return CliRunner().invoke(main, ["load", *args, *QUICK])


@pytest.mark.slow
def test_orch_load_stores_its_run_and_history_reads_it(isolated):
    done = _load("--rates", "20,40", "--workers", "2", "--slo", "latency_ms=500", "--json", "r.json")
    assert done.exit_code == 0, done.output
    run_id = re.search(r"^run (\S+): (\S+load\.json)$", done.output, re.M)
    assert run_id is not None, done.output
    kept = json.loads((isolated / run_id.group(2)).read_text())
    assert kept == json.loads((isolated / "r.json").read_text())
    assert (kept["schema"], kept["run_id"], kept["host"]["hostname"]) == (
        "orch.load/1",
        run_id.group(1),
        store.this_host(),
    )
    (listed,) = store.list_runs()
    assert (listed.run_id, listed.kind, listed.strategies, listed.status) == (run_id.group(1), "load", "restart", "ok")

    shown = CliRunner().invoke(main, ["history", "--format", "json"])
    assert shown.exit_code == 0
    (row,) = json.loads(shown.output)
    assert (row["kind"], row["strategy"], row["status"]) == ("load", "restart", "ok")

    levels = CliRunner().invoke(main, ["history", "load", "--format", "json"])
    assert levels.exit_code == 0, levels.output
    rows = json.loads(levels.output)
    assert [(r["level"], r["sent"], r["ok"], r["workers"]) for r in rows] == [
        ("20/s poisson", 6, 6, 2),
        ("40/s poisson", 6, 6, 2),
    ]

    show = CliRunner().invoke(main, ["history", "show", "latest"])
    assert show.exit_code == 0, show.output
    assert show.output.startswith(f"load run {run_id.group(1)}")
    assert "calibration x restart x 2 worker(s); 6 requests a level" in show.output

    page = CliRunner().invoke(main, ["report", "latest", "--html", "r.html", "--md", "r.md", "--csv", "r.csv"])
    assert page.exit_code == 0, page.output
    html = (isolated / "r.html").read_text()
    assert html.count('src="data:image/png;base64,') == 3
    for alt in ("latency percentiles against the rate", "throughput and goodput", "memory against requests served"):
        assert alt in html
    assert (isolated / "r.md").read_text().startswith(f"# orch load {run_id.group(1)}")
    csv_rows = (isolated / "r.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in csv_rows] == ["level", "20/s poisson", "40/s poisson"]

    from_file = CliRunner().invoke(main, ["report", "r.json"])  # the file, not the database
    assert from_file.exit_code == 0, from_file.output
    assert "20/s poisson" in from_file.output and "40/s poisson" in from_file.output


def test_no_history_stores_nothing(isolated):
    done = _load("--rate", "20", "--no-history")
    assert done.exit_code == 0, done.output
    assert not (isolated / "env-history.sqlite3").exists()
    assert len(list(isolated.glob("orch-results/load-*/load.json"))) == 1


def test_a_history_database_that_cannot_be_made_is_named_before_any_worker(isolated):
    done = _load("--rate", "20", "--db", str(isolated / "no-such-folder" / "h.sqlite3"))
    assert done.exit_code == 2
    assert "folder" in done.output and "or pass --no-history" in done.output
    assert not list(isolated.glob("orch-results/load-*"))
