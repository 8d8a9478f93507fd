"""`orch ab --load` end to end: two load result files (exit 3 when B regressed, 0 for A/A),
two sets of orch load options run on the calibration engine, and what it refuses (exit 2)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from tests.load_runs import load_run


def _files(tmp_path, b_service: float):
    a, b = load_run(rates=(4.0, 8.0)), load_run(rates=(4.0, 8.0), service_s=b_service)
    for run, name in ((a, "a.json"), (b, "b.json")):
        (tmp_path / name).write_text(json.dumps(run.to_json()))
    return str(tmp_path / "a.json"), str(tmp_path / "b.json")


def test_two_load_files_b_regressed_exits_3(isolated):
    a, b = _files(isolated, 0.125)
    done = CliRunner().invoke(main, ["ab", "--load", "--a", a, "--b", b, "--json", "ab.json"])
    assert done.exit_code == 3, done.output
    assert "max sustainable rate: A 8 req/s, B none" in done.output
    assert "verdict: regressed" in done.output
    kept = json.loads((isolated / "ab.json").read_text())
    assert (kept["schema"], kept["verdict"], kept["max_sustainable_rate"]) == (
        "orch.load-ab/1",
        "regressed",
        [8.0, None],
    )


def test_the_same_file_twice_exits_0(isolated):
    a, _ = _files(isolated, 0.0625)
    done = CliRunner().invoke(main, ["ab", "--load", "--a", a, "--b", a])
    assert done.exit_code == 0, done.output
    assert "verdict: no difference" in done.output


@pytest.mark.slow
def test_two_option_sets_run_and_compare(isolated):
    common = "--rate 5 --requests 8 --token-ms 1 --slo latency_ms=250"
    done = CliRunner().invoke(
        main, ["ab", "--load", "--a", f"{common} --ttft-ms 5", "--b", f"{common} --ttft-ms 400", "--format", "json"]
    )
    assert done.exit_code == 3, done.output  # every B request takes 400 ms more, over the SLO
    (row,) = json.loads(done.output[done.output.index("[") :].split("\nmax sustainable")[0])
    assert row["level"] == "5/s poisson"
    assert row["sustained A/B"].endswith("/no")  # B misses its SLO (A's level may be invalid on a busy host)
    assert row["p99 latency B ms"] is None  # 10 requests cannot support a p99 (662): never printed as one
    from orchestrator.history import store

    assert [r.kind for r in store.list_runs()] == ["load", "load"]  # each side stored as orch load stores it


def test_what_cannot_be_compared_is_named_before_anything_runs(isolated):
    (isolated / "run.json").write_text(json.dumps({"schema": "orch.run/2", "run_id": "x", "results": []}))
    done = CliRunner().invoke(
        main, ["ab", "--load", "--a", "run.json", "--b", "--rate 5 --leek 1", "--iters", "3", "--rounds", "2"]
    )
    assert done.exit_code == 2, done.output
    assert "--iters, --rounds belong to compare's A/B" in done.output
    assert "--a run.json: not a load result (orch load --json)" in done.output
    assert "--b '--rate 5 --leek 1': No such option '--leek'" in done.output
    assert not list(isolated.glob("orch-results/ab-load-*"))
    done = CliRunner().invoke(main, ["ab", "--load", "--a", "--rate 5 --json x.json", "--b", "nothing-here"])
    assert done.exit_code == 2
    assert "--a: --json belong to the whole A/B run" in done.output
    assert "--b 'nothing-here': no such load result file, and not options of orch load" in done.output


@pytest.mark.slow
def test_the_doc_example_with_two_option_sets(isolated):
    """docs/ab.md's first --load example, as written: B's every request over its SLO, exit 3."""
    import re
    import shlex
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ab.md").read_text(encoding="utf-8")
    block = doc.split("## Two load runs", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    first = re.sub(r"\\\n\s*", " ", block).splitlines()[1]
    argv = shlex.split(first)
    assert argv[:3] == ["orch", "ab", "--load"]
    done = CliRunner().invoke(main, argv[1:])
    assert done.exit_code == 3, done.output
    assert "max sustainable rate:" in done.output and ", B none" in done.output
