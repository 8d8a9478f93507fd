"""Transcript drift end to end: the calibration engine changes its text from iteration K on
(the whole text, or one character), through the real runner and worker processes, and the
run names exactly K; `orch run` exits 1 on it, 0 on a clean or a sampled run."""

import json

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.run import strategies as registry
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST


def run(tmp_path, strategies, iters=10, **options):
    plan = RunPlan(
        strategies=strategies,
        iters=iters,
        warmup=2,
        engine="calibration",
        engine_options={**FAST, **options},
        out_dir=tmp_path,
        iter_timeout=20,
        sample_hz=0,
    )
    return execute(plan)


@pytest.mark.parametrize("mode", ["text", "char"])
@pytest.mark.parametrize("k", [2, 5, 9])
def test_drift_is_found_at_exactly_k(tmp_path, k, mode):
    s = run(tmp_path, ["restart"], drift_at=k, drift_mode=mode).results[0].summary
    assert (s.text_stable, s.first_changed_at, s.changed_iterations) == (False, k, 10 - k + 1)
    if mode == "char":  # one character in each changed iteration
        assert s.edit_distance_mean == pytest.approx((10 - k + 1) / 9)


@pytest.mark.slow
def test_every_strategy_honours_drift_at(tmp_path):
    result = run(tmp_path, list(registry.for_engine("calibration")), iters=6, drift_at=4, drift_mode="char")
    got = {r.strategy: (str(r.status), r.summary.first_changed_at) for r in result.results}
    assert got == {name: ("ok", 4) for name in registry.for_engine("calibration")}


@pytest.mark.slow
def test_a_clean_run_is_stable_and_matches_fresh_process(tmp_path):
    result = run(tmp_path, ["restart", "cli-interactive", "fresh-process"], iters=5)
    got = {r.strategy: (r.summary.text_stable, r.summary.matches_baseline) for r in result.results}
    assert got == {"restart": (True, True), "cli-interactive": (True, True), "fresh-process": (True, None)}


def orch(tmp_path, *args):
    return CliRunner().invoke(
        main,
        ["run", "--strategy", "restart", "--iters", "4", "--warmup", "0", "--ttft-ms", "1", "--token-ms", "1"]
        + ["--sample-hz", "0", "--no-history", "--out", str(tmp_path), "--json", str(tmp_path / "r.json"), *args],
    )


def test_orch_run_exits_1_on_drift_and_names_it(tmp_path):
    res = orch(tmp_path, "--drift-at", "3")
    assert res.exit_code == 1, res.output
    assert "restart: text changed at iteration 3 (against its iteration 1): " in res.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["plan"]["decoding"] == "greedy" and data["engine"]["decoding"] == "greedy"
    s = data["results"][0]["summary"]
    assert (s["text_stable"], s["first_changed_at"], s["changed_iterations"]) == (False, 3, 2)


def test_orch_run_exits_0_on_a_clean_run(tmp_path):
    res = orch(tmp_path)
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["summary"]["text_stable"] is True


def test_sampled_decoding_varies_the_text_and_says_nothing_of_drift(tmp_path):
    res = orch(tmp_path, "--decoding", "sampled", "--drift-at", "3")
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["engine"]["decoding"] == "sampled"
    texts = [it["text_raw"] for it in data["results"][0]["iterations"]]
    assert len(set(texts)) == 4
    assert data["results"][0]["summary"]["text_stable"] is None


def test_orch_ab_regresses_when_side_b_drifts(tmp_path):
    res = CliRunner().invoke(
        main,
        ["ab", "--a", "--drift-mode char", "--b", "--drift-mode char --drift-at 3", "--strategies", "restart"]
        + ["--iters", "5", "--warmup", "1", "--rounds", "1", "--ttft-ms", "2", "--token-ms", "1", "--sample-hz", "0"]
        + ["--speed-pct", "1000", "--no-history", "--out", str(tmp_path), "--json", str(tmp_path / "ab.json")],
    )
    assert res.exit_code == 3, res.output  # B regressed
    ab = json.loads((tmp_path / "ab.json").read_text())["results"][0]["ab"]
    assert ab["verdict"] == "regressed"
    assert ab["reasons"] == [
        "B is worse: B's transcript changed under greedy decoding, A's did not (round 1: changed at 3 (3 iters))"
    ]


def test_a_bad_decoding_and_drift_at_are_named_before_any_worker(tmp_path):
    res = CliRunner().invoke(
        main,
        [
            "run",
            "--strategy",
            "restart",
            "--decoding",
            "beam",
            "--drift-at",
            "0",
            "--no-history",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 2
    assert "--decoding: 'beam' is not one of 'greedy', 'sampled'" in res.output
    assert "--drift-at must be an integer >= 1, not 0" in res.output
    assert not any(tmp_path.iterdir())  # nothing ran
