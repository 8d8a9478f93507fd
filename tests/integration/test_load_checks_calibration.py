"""Outputs checked under load on the calibration engine: an injected drift (--drift-at) and an
injected cache (--cache-speedup) are each caught; a clean run flags neither."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main

from conftest import SHARED

JFK = str(SHARED / "samples" / "jfk.wav")


def _load(tmp_path, *extra):
    out = tmp_path / "out.json"
    args = ["load", "--concurrency", "2", "--requests", "12", "--ttft-ms", "60", "--token-ms", "1"]
    done = CliRunner().invoke(
        main, [*args, "--audio", JFK, "--no-history", "--out", str(tmp_path), "--json", str(out), *extra]
    )
    return done, json.loads(Path(out).read_text())


def test_drift_under_load_is_caught_and_fails_the_run(isolated):
    done, doc = _load(isolated, "--drift-at", "6")
    assert done.exit_code == 1, done.output
    (level,) = doc["levels"]
    # the reference pass is request 1; requests 2..13 are measured, 6..13 drift
    assert level["drift_under_load"]["compared"] == 12 and level["drift_under_load"]["drifted"] == 8
    assert "DRIFT under load: 8 of 12" in done.output


def test_a_clean_run_has_no_drift(isolated):
    done, doc = _load(isolated)
    assert done.exit_code == 0, done.output
    assert doc["levels"][0]["drift_under_load"] == {"compared": 12, "drifted": 0, "examples": []}


@pytest.mark.slow
def test_the_caching_check_flags_a_runtime_that_answers_a_repeat_faster(isolated):
    done, doc = _load(isolated, "--cache-speedup", "0.25", "--check-caching", "10")
    assert doc["caching"]["caching"] is True, doc["caching"]
    assert doc["caching"]["repeated"] == 10 and doc["caching"]["distinct"] == 10
    clean, doc = _load(isolated, "--check-caching", "10")
    assert doc["caching"]["caching"] is False, doc["caching"]
    assert "no sign of caching" in clean.output
