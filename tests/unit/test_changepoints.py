"""Change points over the soak history (orchestrator/history/changepoints.py): seeded
synthetic series (a step of +0.3 MB/iter at run 20 of 40, a +1%/run TTFT creep from run
20, one spike), the history's series (one per host, each point with its engine build),
`orch history changes`, and what a soak makes of a new change point (exit 1, CHANGE line,
Prometheus)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from click.testing import CliRunner
from orchestrator.history import changepoints as cp
from orchestrator.results.model import Outcome, RunResult, SoakInfo, StrategyResult, Summary

SEED = 7


# ------------------------------------------------------------------ one series
def test_a_step_of_0_3_mb_per_iteration_at_run_20_is_found_there():
    found = cp.detect(cp.synthetic("step", SEED))
    assert [f.index for f in found] == [20]
    f = found[0]
    assert (f.n_before, f.n_after) == (20, 20)
    assert f.before == pytest.approx(0.005, abs=0.001) and f.after == pytest.approx(0.319, abs=0.001)
    assert f.after - f.before == pytest.approx(0.3, abs=0.03)
    assert f.p_value < 1e-20


def test_a_creep_of_one_percent_a_run_from_run_20_is_found_within_two_runs():
    found = cp.detect(cp.synthetic("creep", SEED))
    assert [f.index for f in found] == [21]  # within ±2 of 20
    f = found[0]
    assert f.before == pytest.approx(99.2, abs=0.1) and f.after == pytest.approx(121.6, abs=0.1)
    assert f.slope_after == pytest.approx(1.14, abs=0.01)  # ms a run: ~1% of ~110 ms
    assert f.p_value < 1e-20


def test_one_spike_is_no_change_point():
    values = cp.synthetic("spike", SEED)
    assert values[25] > 1.4 * values[24]  # the spike is there
    assert cp.detect(values) == []


def test_noise_alone_is_no_change_point():
    assert cp.detect(cp.synthetic("flat", SEED)) == []


@pytest.mark.parametrize("runs", [1, 2, 3])
def test_a_blip_shorter_than_the_window_is_no_change_point(runs):
    values = cp.synthetic("flat", SEED)
    for i in range(25, 25 + runs):
        values[i] *= 1.3
    assert cp.detect(values) == []


@pytest.mark.parametrize("kind, at_most_off, seeds_found", [("step", 2, 200), ("creep", 2, 197)])
def test_over_200_seeds(kind, at_most_off, seeds_found):
    """The rates docs/history.md gives (scripts/compare_changepoints.py --seeds 200)."""
    hits = sum(
        1 for s in range(200) if [abs(f.index - 20) <= at_most_off for f in cp.detect(cp.synthetic(kind, s))] == [True]
    )
    assert hits == seeds_found


def test_too_short_a_series_and_a_flat_one_have_none():
    assert cp.detect(cp.synthetic("step", SEED)[:9]) == []
    assert cp.detect([5.0] * 40) == []


def test_a_step_in_a_series_flat_but_for_it():
    found = cp.detect([0.0] * 20 + [0.1] * 20)  # CER: no noise to measure
    assert [(f.index, round(f.before, 6), round(f.after, 6)) for f in found] == [(20, 0.0, 0.1)]


def test_a_step_is_seen_once_five_runs_follow_it_and_then_is_not_new():
    values = cp.synthetic("step", SEED)
    seen = {n: [f.index for f in cp.detect(values[:n])] for n in (23, 24, 25, 26)}
    # a strong step shows before five runs follow it, a run or two early, then settles
    assert seen == {23: [18], 24: [19], 25: [20], 26: [20]}

    def series(n):
        points = [cp.Point(f"r{i:02d}", None, v) for i, v in enumerate(values[:n])]
        return cp.Series("s/k", "restart", None, "growth_mb_per_iter", points)

    assert [c.run_id for c in cp.new_changes(series(22))] == []
    assert [c.run_id for c in cp.new_changes(series(23))] == ["r18"]
    assert [c.run_id for c in cp.new_changes(series(24))] == []  # 19 is within 2 runs of 18
    assert [c.run_id for c in cp.new_changes(series(25))] == []
    assert [c.run_id for c in cp.new_changes(series(40))] == []


# ------------------------------------------------------------------ the history
T0 = dt.datetime(2026, 1, 1, 3, 15, tzinfo=dt.timezone.utc)


def soak_run(
    i: int,
    growth: float,
    ttft: float,
    key: str = "n/calib",
    status: str = "ok",
    host: str = "bench-1",
    engine: dict | None = None,
) -> RunResult:
    summary = Summary(
        growth_mb_per_iter=growth,
        growth_ci95=[growth - 0.01, growth + 0.01],
        ttft_ms_median=ttft,
        tokens_per_s_median=1000.0,
    )
    return RunResult(
        run_id=f"2026-r{i:02d}" + ("" if host == "bench-1" else f"-{host}"),
        started_at=(T0 + dt.timedelta(days=i)).isoformat(),
        host={"hostname": host},
        engine=engine or {"name": "calibration"},
        plan={"strategies": ["restart"]},
        results=[StrategyResult(strategy="restart", status=status, summary=summary)],
        soak=SoakInfo(name="n", matrix_key=key, outcome=Outcome.OK),
    )


def bench2_run(i: int) -> RunResult:
    """A second machine's run of the same soak key, one hour after bench-1's: its growth flat
    at 0.3 MB/iter (bench-1's level after its step), its TTFT 20% slower from its run 30 on,
    when its chatllm.cpp build changed (commit aaaa → bbbb; no library to hash)."""
    growth = 0.3 + 0.02 * np.random.default_rng(11).standard_normal(40)
    ttft = [v * (1.2 if k >= 30 else 1.0) for k, v in enumerate(cp.synthetic("flat", 11))]
    run = soak_run(
        i,
        float(growth[i]),
        ttft[i],
        host="bench-2",
        engine={"name": "chatllm", "commit": "aaaa" if i < 30 else "bbbb", "threads": 2},
    )
    run.started_at = (T0 + dt.timedelta(days=i, hours=1)).isoformat()
    return run


@pytest.fixture
def history(tmp_path):
    """bench-1: a growth step at run 20 and a TTFT creep from run 20 (calibration engine);
    bench-2, the same key in the same database: no growth step, a TTFT step at run 30."""
    from orchestrator.history import store

    db = str(tmp_path / "h.sqlite3")
    growth, ttft = cp.synthetic("step", SEED), cp.synthetic("creep", SEED)
    for i in range(40):
        store.save_run(soak_run(i, growth[i], ttft[i]), db)
        store.save_run(bench2_run(i), db)
    store.save_run(soak_run(40, 9.9, 999.0, status="crashed"), db)  # not ok: left out of the series
    store.save_run(soak_run(41, 0.0, 100.0, key="n/other"), db)
    yield db
    store.dispose_db_engines()


def test_series_and_change_points_of_the_history(history):
    series = {s.key: s for s in cp.history_series(history)}
    assert len(series[("bench-1", "n/calib", "restart", None, "growth_mb_per_iter")].points) == 40
    assert len(series[("bench-2", "n/calib", "restart", None, "growth_mb_per_iter")].points) == 40
    assert len(series[("bench-1", "n/other", "restart", None, "ttft_ms_median")].points) == 1
    assert len(series) == 2 * 3 + 3  # (bench-1, bench-2) × n/calib × 3 figures (no CER); bench-1 × n/other
    assert {p.build for p in series[("bench-1", "n/calib", "restart", None, "growth_mb_per_iter")].points} == {
        "calibration"
    }
    b2 = series[("bench-2", "n/calib", "restart", None, "ttft_ms_median")]
    assert [p.build for p in b2.points] == ["aaaa"] * 30 + ["bbbb"] * 10
    found = cp.find_changes(history)
    assert [(c.host, c.matrix_key, c.metric, c.run_id, c.position, c.runs) for c in found] == [
        ("bench-1", "n/calib", "ttft_ms_median", "2026-r21", 21, 40),
        ("bench-1", "n/calib", "growth_mb_per_iter", "2026-r20", 20, 40),
        ("bench-2", "n/calib", "ttft_ms_median", "2026-r30-bench-2", 30, 40),
    ]
    assert found[1].message() == (
        "restart: growth MB/iter 0.005 → 0.319 from run 2026-r20 "
        "(2026-01-21 03:15 UTC; run 21 of 40; build calibration; Chow p=8.7e-26)"
    )
    assert "then +1.1 a run" in found[0].message()
    assert found[2].message() == (
        "restart: TTFT ms (p50) 99.2 → 119.9 (+21%) from run 2026-r30-bench-2 "
        "(2026-01-31 04:15 UTC; run 31 of 40; build aaaa → bbbb; Chow p=6.2e-33)"
    )
    assert (found[2].build_before, found[2].build_after, found[0].builds) == ("aaaa", "bbbb", "calibration")
    assert [c.run_id for c in cp.find_changes(history, since="2026-01-23")] == ["2026-r30-bench-2"]
    assert [c.run_id for c in cp.find_changes(history, since="2026-01-21T12:00", host="bench-1")] == ["2026-r21"]
    assert [c.run_id for c in cp.find_changes(history, host="bench-2")] == ["2026-r30-bench-2"]
    assert cp.find_changes(history, host="bench-3") == []
    assert [c.metric for c in cp.find_changes(history, metric="growth_mb_per_iter")] == ["growth_mb_per_iter"]


def test_one_series_of_two_hosts_would_be_nonsense(history):
    """Why the series are per host: bench-1 and bench-2 taken as one series (the runs in
    time order, as before hosts were kept) give change points that neither machine had."""
    from orchestrator.history import store

    rows = store.list_runs(history, kind="soak", matrix_key="n/calib", newest_first=False)
    for r in rows:
        r.host = None
    merged = {s.metric: s for s in cp.series_of(rows)}
    assert len(merged["growth_mb_per_iter"].points) == 80
    assert [c.run_id for c in cp.changes_in(merged["ttft_ms_median"])] != ["2026-r21"]


def test_orch_history_changes_lists_them_by_host(history):
    from orchestrator.cli import main

    res = CliRunner().invoke(main, ["history", "changes", "--db", history, "--format", "csv"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines == [
        "host,when (UTC),soak key,strategy,model,figure,run_id,before,after,change %,then per run,p (Chow),build",
        "bench-1,2026-01-22 03:15:00,n/calib,restart,,TTFT ms (p50),2026-r21,99.2,121.6,22.6,1.1,8.9e-24,calibration",
        "bench-1,2026-01-21 03:15:00,n/calib,restart,,growth MB/iter,2026-r20,0.005,0.319,,0.001,8.7e-26,calibration",
        "bench-2,2026-01-31 04:15:00,n/calib,restart,,TTFT ms (p50),2026-r30-bench-2,99.2,119.9,21.0,0.0,6.2e-33,"
        "aaaa → bbbb",
    ]
    res = CliRunner().invoke(main, ["history", "changes", "--db", history, "--host", "bench-2", "--format", "csv"])
    assert res.exit_code == 0, res.output
    assert [line.split(",")[:7] for line in res.output.strip().splitlines()[1:]] == [
        ["bench-2", "2026-01-31 04:15:00", "n/calib", "restart", "", "TTFT ms (p50)", "2026-r30-bench-2"]
    ]
    res = CliRunner().invoke(main, ["history", "changes", "--db", history, "--host", "nowhere"])
    assert res.exit_code == 0 and "no change points match" in res.output
    res = CliRunner().invoke(main, ["history", "changes", "--db", history, "--soak", "n/other"])
    assert res.exit_code == 0 and "no change points match" in res.output
    res = CliRunner().invoke(main, ["history", "changes", "--db", history, "--since", "yesterday-ish"])
    assert res.exit_code == 2 and "cannot read 'yesterday-ish' as a time" in res.output


# ------------------------------------------------------------------ soak
def test_a_soak_run_that_brings_a_change_point_exits_3_and_says_so(history):
    from orchestrator.errors import ExitCode
    from orchestrator.history import prometheus, soak_output, store
    from orchestrator.studies import soak

    # the 23rd run of a key whose growth stepped at run 20: the first with which the change
    # point shows
    db = history
    growth = cp.synthetic("step", SEED)
    for i in range(25, 40):
        store.save_run(soak_run(i, growth[i], 100.0, key="n/late"), db)
    key = "n/step"
    for i in range(22):
        store.save_run(soak_run(i, growth[i], 100.0, key=key), db)
    notes: list[str] = []
    today = soak_run(22, growth[22], 100.0, key=key)
    found = soak._new_change_points(db, key, today, notes)
    assert [(c.run_id, c.metric) for c in found] == [("2026-r18", "growth_mb_per_iter")] and notes == []
    # the same key's run on another machine: its own series (one run), no change point
    assert soak._new_change_points(db, key, soak_run(22, growth[22], 100.0, key=key, host="bench-2"), notes) == []
    store.save_run(today, db)
    assert soak._new_change_points(db, key, soak_run(23, growth[23], 100.0, key=key), notes) == []

    run = soak.CellRun(soak="n", matrix_key=key, result=today, outcome=Outcome.OK, changes=found, finished=1.0)
    quiet = soak.CellRun(
        soak="n", matrix_key="n/late", result=soak_run(40, 0.3, 100.0), outcome=Outcome.OK, changes=[], finished=1.0
    )
    lines = soak_output.cell_lines(run, "table", inputs_named=False)
    out = "\n".join(line for line, to_stderr in lines if not to_stderr)
    err = "\n".join(line for line, to_stderr in lines if to_stderr)
    assert f"CHANGE {key}: restart: growth MB/iter" in out and "from run 2026-r18" in out
    assert f"change point: {key}: " in err
    assert soak.exit_code([run, quiet]) == ExitCode.REGRESSED == 3
    assert soak_output.summary_lines("n", [run, quiet]) == ["soak n: 1 new change point(s) in 1 of 2 run(s)"]
    assert soak.exit_code([quiet]) == ExitCode.OK == 0
    text = prometheus.render([run, quiet])
    assert 'orch_soak_change_points_new{soak="n",key="n/step"} 1.0' in text
    assert 'orch_soak_change_points_new{soak="n",key="n/late"} 0.0' in text
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return
    names = {f.name for f in text_string_to_metric_families(text)}
    assert "orch_soak_change_points_new" in names


def test_soak_config_sets_the_change_point_search(history):
    """change_min_size / change_max_pvalue (the `history changes` options) reach soak's own
    look: the step at run 20 shows with 3 runs after it at the default 5 runs a side, and
    not while 10 runs a side are asked for."""
    from orchestrator.history import store
    from orchestrator.studies import soak

    settings = soak.settings_from({"change_min_size": 10, "change_max_pvalue": 0.001}, None, None, None, False)
    assert settings.changes == cp.Settings(min_size=10, max_pvalue=0.001)
    assert soak.settings_from({}, None, None, None, False).changes == cp.Settings()
    growth = cp.synthetic("step", SEED)
    key = "n/step"
    for i in range(22):
        store.save_run(soak_run(i, growth[i], 100.0, key=key), history)
    today = soak_run(22, growth[22], 100.0, key=key)
    assert [c.run_id for c in soak._new_change_points(history, key, today, [], cp.Settings())] == ["2026-r18"]
    assert soak._new_change_points(history, key, today, [], settings.changes) == []
