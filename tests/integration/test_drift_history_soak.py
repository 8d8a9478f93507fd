"""Transcript drift beyond one run: stored in the history (columns and JSON), listed by
`orch history`, an alarm (regression kind `drift`) in `orch soak` with its Prometheus
gauges; on the calibration engine end to end."""

import textwrap

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.history import store


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_DB", str(tmp_path / "history.sqlite3"))
    monkeypatch.setenv("ORCH_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


def soak_config(path, drift_at=None):
    drift = f", drift_at = {drift_at}, drift_mode = 'char'" if drift_at else ""
    path.write_text(
        textwrap.dedent(
            f"""
            name = "e2e"
            out = "runs"
            [[matrix]]
            name = "calib"
            strategies = ["restart", "fresh-process"]
            iters = 6
            warmup = 1
            sample_hz = 0
            engine_options = {{ttft_ms = 2, token_ms = 1{drift}}}
            """
        ),
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_soak_alarms_on_drift_and_the_history_keeps_it(env):
    prom = env / "orch.prom"
    clean = CliRunner().invoke(main, ["soak", "--config", str(soak_config(env / "s.toml")), "--prometheus", str(prom)])
    assert clean.exit_code == 0, clean.output
    assert 'orch_soak_text_stable{soak="e2e",key="e2e/calib",strategy="restart",model=""} 1.0' in prom.read_text()
    assert 'orch_soak_text_matches_baseline{soak="e2e",key="e2e/calib",strategy="restart",model=""} 1.0' in (
        prom.read_text()
    )

    drifted = CliRunner().invoke(
        main, ["soak", "--config", str(soak_config(env / "s.toml", drift_at=4)), "--prometheus", str(prom)]
    )
    assert drifted.exit_code == 3, drifted.output  # an alarm: a regression
    assert (
        "REGRESSION e2e/calib: restart: transcript changed under greedy decoding from iteration 4 "
        "(3 iteration(s); mean edit distance 0.6 characters)" in drifted.output
    )
    text = prom.read_text()
    assert 'orch_soak_text_stable{soak="e2e",key="e2e/calib",strategy="restart",model=""} 0.0' in text
    assert 'orch_soak_text_changed_iterations{soak="e2e",key="e2e/calib",strategy="restart",model=""} 3.0' in text

    runs = store.list_runs(kind="soak")
    assert [r.outcome for r in runs] == ["regression", "ok"]
    got = [
        (s.strategy, s.text_stable, s.first_changed_at, s.changed_iterations, s.matches_baseline)
        for s in runs[0].results
    ]
    # fresh-process drifts too (the calibration engine drifts by iteration), and is the baseline
    assert got == [("restart", False, 4, 3, False), ("fresh-process", False, 4, 3, None)]
    assert [(s.text_stable, s.matches_baseline) for s in runs[1].results] == [(True, True), (True, None)]
    loaded = store.load_run(runs[0].run_id)
    regs = [  # (a busy host may add a ttft one)
        (r.kind, r.strategy, r.first_changed_at, r.changed_iterations)
        for r in loaded.soak.regressions
        if r.kind != "ttft"
    ]
    assert regs == [("drift", "restart", 4, 3), ("drift", "fresh-process", 4, 3)]
    assert loaded.results[0].summary.first_changed_at == 4

    listing = CliRunner().invoke(main, ["history", "--format", "csv"])
    assert listing.exit_code == 0, listing.output
    lines = listing.output.splitlines()
    assert lines[0].split(",")[-2:] == ["text", "soak"]
    assert [line.split(",")[-2] for line in lines[1:]] == ["changed at 4 (3 iters)"] * 2 + ["stable"] * 2
