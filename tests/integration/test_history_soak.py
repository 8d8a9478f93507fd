"""`orch soak`: config and matrix keys, the baseline checks, exit codes 0/1/2, the lock,
the Prometheus textfile; against fixture results (a monkeypatched harness) and once end to
end on the calibration engine."""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import random
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.history import baseline, prometheus, store
from orchestrator.results.model import Outcome, Regression, RunResult, SoakInfo
from orchestrator.studies import soak

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FAST = {"ttft_ms": 5, "token_ms": 1}


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (\S+)$')


def parse_textfile(text: str) -> dict[str, list]:
    """{metric: [(labels, value)]}: prometheus_client's parser when installed (test extra
    prometheus-client), else a strict line-by-line check of the exposition format."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        out: dict[str, list] = {}
        for line in text.splitlines():
            if line.startswith("# HELP ") or line.startswith("# TYPE "):
                continue
            m = _LINE.match(line)
            assert m, f"not exposition format: {line!r}"
            labels = {
                k: re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), v)
                for k, v in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2))
            }
            out.setdefault(m.group(1), []).append((labels, float(m.group(3))))
        return out
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in text_string_to_metric_families(text)}


def _soak(args: list[str]):
    """`orch soak ARGS` through the command line's top, where errors become exit codes."""
    from orchestrator.cli import main

    return CliRunner().invoke(main, ["soak", *args])


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def _only(result: dict, strategy: str) -> dict:
    out = copy.deepcopy(result)
    out["results"] = [r for r in out["results"] if r["strategy"] == strategy]
    out["plan"]["strategies"] = [strategy]
    return out


def _scale_ttft(result: dict, factor: float, jitter: float = 0.0, seed: int = 1) -> dict:
    out = copy.deepcopy(result)
    rnd = random.Random(seed)
    for r in out["results"]:
        for it in r["iterations"]:
            it["ttft_ms"] = it["ttft_ms"] * factor * (1 + rnd.uniform(-jitter, jitter))
        ttfts = [it["ttft_ms"] for it in r["iterations"] if not it["warmup"]]
        if r.get("summary") and ttfts:
            r["summary"]["ttft_ms_median"] = sorted(ttfts)[len(ttfts) // 2]
    return out


# --- baseline checks (baseline.compare takes RunResults) ------------------------------------------
def _compare(result: dict, before: list[dict], settings=None):
    return baseline.compare(RunResult.from_json(result), [RunResult.from_json(r) for r in before], settings)


def test_new_growing_verdict_regresses():
    grow = fixture("run_growing.json")
    stable = _only(grow, "restart")
    now = _only(grow, "recreate")
    now["results"][0]["strategy"] = "restart"  # the same strategy, now growing
    regs, _ = _compare(now, [stable])
    assert [(r.kind, r.strategy, r.model) for r in regs] == [("growing", "restart", None), ("growth", "restart", None)]
    assert regs[0].message == "restart: new `growing` verdict: memory grows +1.004 MB/iter (95% CI [1.004, 1.004])"
    assert regs[1].baseline_ci_high == 0.0 and regs[1].growth_mb_per_iter == 1.00390625


def test_a_shrinking_verdict_is_no_regression():
    """Memory that falls: no new-growing regression, with or without a baseline, and no
    growth above the baseline's CI (now or as the baseline of a flat run)."""
    stable = _only(fixture("run_growing.json"), "restart")
    falling = copy.deepcopy(stable)
    falling["results"][0]["summary"].update(growth_mb_per_iter=-1.0, growth_ci95=[-1.004, -0.996], verdict="shrinking")
    assert RunResult.from_json(falling).results[0].summary.verdict.value == "shrinking"
    assert _compare(falling, [])[0] == []
    assert _compare(falling, [stable])[0] == []
    assert _compare(stable, [falling])[0] == []


def test_growing_with_no_baseline_is_new_but_growth_is_not_compared():
    regs, notes = _compare(_only(fixture("run_growing.json"), "recreate"), [])
    assert [r.kind for r in regs] == ["growing"]
    assert notes == ["no baseline yet (first good run of this matrix key): only a growing verdict is checked"]


def test_same_results_do_not_regress():
    grow = fixture("run_growing.json")
    ok = _only(grow, "restart")
    regs, _ = _compare(ok, [ok, ok])
    assert regs == []
    # a growing verdict the baseline already had is not new (and not above its own CI)
    g = _only(grow, "recreate")
    assert _compare(g, [g]) == ([], [])


def test_ttft_slower_with_significance():
    ok = _only(fixture("run_growing.json"), "restart")
    before = [_scale_ttft(ok, 1.0, jitter=0.05, seed=s) for s in (1, 2, 3)]
    slower = _scale_ttft(ok, 1.5, jitter=0.05, seed=9)
    regs, _ = _compare(slower, before)
    assert [r.kind for r in regs] == ["ttft"]
    assert regs[0].slower_pct > 40 and regs[0].p_value < 0.05
    assert "Mann–Whitney U" in regs[0].message
    # slower by less than the set percentage: fine
    assert _compare(_scale_ttft(ok, 1.05, jitter=0.01, seed=9), before)[0] == []
    # much slower but on too few iterations to be significant: noted, not a regression
    few = copy.deepcopy(slower)
    few["results"][0]["iterations"] = [it for it in few["results"][0]["iterations"] if it["warmup"]] + [
        it for it in few["results"][0]["iterations"] if not it["warmup"]
    ][:3]
    regs, notes = _compare(few, before[:1], baseline.Settings(alpha=0.001))
    assert regs == [] and any("not significantly" in n for n in notes)


def test_crashed_strategies_do_not_break_the_comparison():
    crashed = fixture("run_crashed.json")
    regs, notes = _compare(crashed, [_only(fixture("run_growing.json"), "restart")])
    assert regs == []
    assert notes == [
        ("restart: TTFT not compared (1 measured iterations now, 10 in the baseline; 3 needed on each side)")
    ]


def test_regressions_are_stored_with_their_kinds_keys():
    """Regression.to_json writes each kind's keys, in the order soak runs have always stored."""
    grow = fixture("run_growing.json")
    now, stable = _only(grow, "recreate"), _only(grow, "restart")
    now["results"][0]["strategy"] = "restart"
    regs, _ = _compare(now, [stable])
    assert all(isinstance(r, Regression) for r in regs)
    assert [list(r.to_json()) for r in regs] == [
        ["kind", "strategy", "model", "growth_mb_per_iter", "growth_ci95", "message"],
        ["kind", "strategy", "model", "growth_mb_per_iter", "baseline_ci_high", "message"],
    ]
    assert [Regression.from_json(r.to_json()) for r in regs] == regs
    ok = _only(grow, "restart")
    slower, _ = _compare(
        _scale_ttft(ok, 1.5, jitter=0.05, seed=9), [_scale_ttft(ok, 1.0, jitter=0.05, seed=s) for s in (1, 2, 3)]
    )
    assert list(slower[0].to_json()) == [
        "kind",
        "strategy",
        "model",
        "ttft_ms_median",
        "baseline_ttft_ms_median",
        "slower_pct",
        "p_value",
        "message",
    ]


# --- config and matrix --------------------------------------------------------------------------
def _write_config(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_matrix_expands_and_keys_are_stable(tmp_path):
    cfg = soak.load_config(
        _write_config(
            tmp_path / "nightly.toml",
            """
        baseline_runs = 3
        [defaults]
        engine = "calibration"
        strategies = ["restart", "recreate"]
        iters = 20
        [[matrix]]
        model = ["small:16", "big:64"]
        engine_options = {leak_mb = 0}
        [[matrix]]
        name = "named"
        strategies = "cli"
        audio = ["a.wav", "b.wav"]
    """,
        )
    )
    assert cfg["name"] == "nightly"
    cells = soak.expand_cells(cfg)
    assert len(cells) == 4
    keys = [soak.matrix_key(cfg, c) for c in cells]
    assert keys == [
        "nightly/calibration:asr:small:16:restart+recreate",
        "nightly/calibration:asr:big:64:restart+recreate",
        "nightly/named:a.wav",
        "nightly/named:b.wav",
    ]
    assert cells[2]["strategies"] == ["cli"] and cells[2]["iters"] == 20
    # engine options are not part of the key: the baseline survives an option change
    other = dict(cells[0], engine_options={"leak_mb": 1})
    assert soak.matrix_key(cfg, other) == keys[0]
    plan, notes = soak.cell_plan(cfg, cells[0])
    assert notes == []
    assert plan.models == ["small:16"] and plan.iters == 20 and plan.engine_options.describe() == {"leak_mb": 0}


def test_bad_config_exits_2(tmp_path):
    bad = _write_config(tmp_path / "bad.toml", "[[matrix]]\nstrategies = ['restart']\nitres = 3\n")
    out = _soak(["--config", str(bad)])
    assert out.exit_code == 2 and "itres" in out.output
    out = _soak(["--config", str(tmp_path / "missing.toml")])
    assert out.exit_code == 2 and "cannot read" in out.output
    broken = _write_config(tmp_path / "broken.toml", "name = \n")
    assert _soak(["--config", str(broken)]).exit_code == 2


# --- the command, against fixture results -----------------------------------------------------------
@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_DB", str(tmp_path / "history.sqlite3"))
    monkeypatch.setenv("ORCH_LOCK_DIR", str(tmp_path / "locks"))
    return tmp_path


def _fake_execute(monkeypatch, results: list[dict]):
    """orchestrator.run.runner.execute replaced: hands out the given results in turn."""
    from orchestrator.run import runner

    queue = list(results)
    plans = []

    def execute(plan, progress_factory=None, on_strategy_done=None):
        plans.append(plan)
        out = copy.deepcopy(queue.pop(0))
        if isinstance(out, Exception):
            raise out
        out["run_id"] = plan.run_id
        # a run that finishes now: the fixtures' own stamps are from the day they were recorded
        now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        out["started_at"] = now
        if "finished_at" in out:
            out["finished_at"] = now
        # … on this machine (a soak's baseline is its own host's runs)
        out["host"] = dict(out.get("host") or {}, hostname=store.this_host())
        return RunResult.from_json(out)  # what runner.execute returns

    monkeypatch.setattr(runner, "execute", execute)
    return plans


CONFIG = """
    name = "fx"
    out = "runs"
    [[matrix]]
    name = "calib"
    strategies = ["restart"]
    iters = 12
    warmup = 2
    engine_options = {ttft_ms = 5, token_ms = 1}
"""


def test_soak_exit_codes_and_prometheus(env, monkeypatch):
    grow = fixture("run_growing.json")
    stable = _only(grow, "restart")
    growing = _only(grow, "recreate")
    growing["results"][0]["strategy"] = "restart"
    growing["results"][0]["summary"]["cer_mean"] = 0.125
    plans = _fake_execute(monkeypatch, [stable, stable, growing, _only(fixture("run_crashed.json"), "restart")])
    config = _write_config(env / "fx.toml", CONFIG)
    prom = env / "textfile" / "orch.prom"
    args = ["--config", str(config), "--prometheus", str(prom)]

    first = _soak(args)
    assert first.exit_code == 0, first.output
    assert plans[0].engine_options.describe() == {"ttft_ms": 5, "token_ms": 1} and plans[0].iters == 12
    assert plans[0].out_dir == env / "runs"
    second = _soak(args)
    assert second.exit_code == 0, second.output

    third = _soak(args)
    assert third.exit_code == 3, third.output  # ExitCode.REGRESSED
    assert "REGRESSION fx/calib: restart: new `growing` verdict" in third.output
    assert "above the baseline's 95% CI" in third.output

    families = parse_textfile(prom.read_text())

    def value(name, **labels):
        found = [v for lab, v in families[name] if all(lab.get(k) == x for k, x in labels.items())]
        assert len(found) == 1, (name, labels, families[name])
        return found[0]

    assert value("orch_soak_growth_mb_per_iter", strategy="restart", key="fx/calib") == pytest.approx(1.0039, abs=1e-3)
    assert value("orch_soak_verdict", strategy="restart", verdict="growing") == 1
    assert value("orch_soak_verdict", strategy="restart", verdict="stable") == 0
    assert value("orch_soak_cer_mean", strategy="restart") == 0.125
    assert value("orch_soak_ttft_ms_median", strategy="restart") > 0
    assert value("orch_soak_regressions", key="fx/calib") == 2
    assert value("orch_soak_run_failed", key="fx/calib") == 0
    last_ok = value("orch_soak_last_success_timestamp_seconds", key="fx/calib")
    assert time.time() - 600 < last_ok <= time.time() + 1
    assert oct(prom.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in prom.parent.iterdir()] == ["orch.prom"]  # no temp file left

    # the baseline is the good runs only: the regression is still a regression next time
    fourth = _soak(args)
    assert fourth.exit_code == 1, fourth.output  # ExitCode.FAILED, as `run` exits for a crashed strategy
    assert "FAILED fx/calib: the run failed: restart: crashed" in fourth.output
    families = parse_textfile(prom.read_text())
    assert value("orch_soak_run_failed", key="fx/calib") == 1
    assert value("orch_soak_last_success_timestamp_seconds", key="fx/calib") == pytest.approx(last_ok, abs=2)

    listed = store.list_runs(kind="soak")
    assert [r.outcome for r in listed] == ["failed", "regression", "ok", "ok"]
    assert {r.matrix_key for r in listed} == {"fx/calib"}
    stored = store.load_run("latest")
    assert stored.soak.outcome is Outcome.FAILED
    assert stored.soak.error == "the run failed: restart: crashed (worker killed by SIGSEGV during iteration 4)"
    third_run = store.load_run(listed[1].run_id)
    assert third_run.soak.baseline_run_ids == [listed[2].run_id, listed[3].run_id]
    assert [r.kind for r in third_run.soak.regressions] == ["growing", "growth"]
    assert third_run.soak.matrix_key == "fx/calib" and third_run.soak.cell["strategies"] == ["restart"]
    # the run folder's run.json has the same soak block
    on_disk = json.loads((plans[2].run_dir / "run.json").read_text(encoding="utf-8"))
    assert on_disk["soak"] == third_run.soak.to_json()


def test_harness_exception_exits_1(env, monkeypatch):
    _fake_execute(monkeypatch, [RuntimeError("worker could not start")])
    out = _soak(["--config", str(_write_config(env / "fx.toml", CONFIG))])
    assert out.exit_code == 1 and "worker could not start" in out.output


def test_accept_makes_a_regression_the_new_baseline(env, monkeypatch):
    grow = fixture("run_growing.json")
    stable, growing = _only(grow, "restart"), _only(grow, "recreate")
    growing["results"][0]["strategy"] = "restart"
    _fake_execute(monkeypatch, [stable, growing, growing])
    args = ["--config", str(_write_config(env / "fx.toml", CONFIG))]
    assert _soak(args).exit_code == 0
    accepted = _soak(args + ["--accept"])
    assert accepted.exit_code == 0 and "REGRESSION" in accepted.output
    assert _soak(args).exit_code == 0  # growing is no longer new


def test_attribute_runs_only_after_an_alarm(env, monkeypatch):
    """--attribute (or `attribute = true`): the tracer re-runs the growing strategies of a
    run that regressed, and only of such a run; its text is on stdout; a tracer that fails
    is a note, the measured run is kept and judged as before."""
    from orchestrator.studies import attribution

    grow = fixture("run_growing.json")
    stable, growing = _only(grow, "restart"), _only(grow, "recreate")
    growing["results"][0]["strategy"] = "restart"
    _fake_execute(monkeypatch, [stable, stable, growing, growing])
    calls = []

    def fake_attribute(plan, result):
        calls.append(result.run_id)
        if len(calls) == 2:
            raise RuntimeError("memray could not attach")
        return ["attribution of restart (memray, resident bytes):", "  1.00 MiB/iter  native_alloc"]

    monkeypatch.setattr(attribution, "attribute_growing", fake_attribute)
    config = _write_config(env / "fx.toml", CONFIG)
    assert _soak(["--config", str(config), "--attribute"]).exit_code == 0
    assert calls == []  # a run with no alarm is not traced
    on = _write_config(env / "fx.toml", CONFIG.replace('out = "runs"', 'out = "runs"\nattribute = true'))
    assert _soak(["--config", str(on)]).exit_code == 0
    third = _soak(["--config", str(config), "--attribute"])
    assert third.exit_code == 3, third.output
    assert len(calls) == 1 and calls[0] == store.list_runs(kind="soak")[0].run_id
    assert "REGRESSION fx/calib: restart: new `growing` verdict" in third.stdout
    assert "  1.00 MiB/iter  native_alloc" in third.stdout
    fourth = _soak(["--config", str(on)])  # config key alone; the tracer fails this time
    assert fourth.exit_code == 3, fourth.output
    assert len(calls) == 2
    assert "note: fx/calib: attribution failed: RuntimeError: memray could not attach" in fourth.stderr
    assert [r.outcome for r in store.list_runs(kind="soak")] == ["regression", "regression", "ok", "ok"]


def test_the_baseline_is_this_hosts_runs(env, monkeypatch):
    """One database, two machines: another host's good runs of the same key are not this
    host's baseline (its `growing` run, stored as ok there, does not make growing old here),
    nor its last success."""
    grow = fixture("run_growing.json")
    stable, growing = _only(grow, "restart"), _only(grow, "recreate")
    growing["results"][0]["strategy"] = "restart"
    _fake_execute(monkeypatch, [stable, growing])
    args = ["--config", str(_write_config(env / "fx.toml", CONFIG))]
    assert _soak(args).exit_code == 0
    mine = store.list_runs(None)[0]
    assert (mine.host, mine.matrix_key, mine.outcome) == (store.this_host(), "fx/calib", "ok")
    there = RunResult.from_json(
        dict(
            growing,
            run_id="elsewhere-1",
            host={"hostname": "not-" + store.this_host()},
            started_at=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        )
    )
    there.soak = SoakInfo(name="fx", matrix_key="fx/calib", outcome=Outcome.OK)
    store.save_run(there, None)
    out = _soak(args)
    assert out.exit_code == 3, out.output
    assert "REGRESSION fx/calib: restart: new `growing` verdict" in out.output
    stored = store.load_run("latest", None)
    assert stored.soak.baseline_run_ids == [mine.run_id]


HOLDER = textwrap.dedent("""
    import sys, time
    from filelock import FileLock
    from orchestrator.studies.soak import lock_path
    lock = FileLock(str(lock_path(sys.argv[1])))
    lock.acquire()
    print("held", flush=True)
    time.sleep(60)
""")


@pytest.mark.slow
def test_second_soak_of_one_config_is_refused(env, monkeypatch):
    config = _write_config(env / "fx.toml", CONFIG)
    plans = _fake_execute(monkeypatch, [_only(fixture("run_growing.json"), "restart")])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(config)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        out = _soak(["--config", str(config)])
        assert out.exit_code == 2
        assert "another soak of" in out.output and "still running" in out.output
        assert plans == []  # nothing ran
        # another config is not blocked
        other = _write_config(env / "other.toml", CONFIG.replace('"fx"', '"other"'))
        assert _soak(["--config", str(other)]).exit_code == 0
    finally:
        holder.kill()
        holder.wait()


def test_prometheus_labels_are_escaped():
    result = RunResult.from_json(_only(fixture("run_growing.json"), "restart"))
    result.results[0].model = 'we"ird\\name\nx'
    text = prometheus.render(
        [soak.CellRun(soak="s", matrix_key="s/k", result=result, outcome=Outcome.OK, finished=1.0)]
    )
    models = {lab["model"] for rows in parse_textfile(text).values() for lab, _ in rows if "model" in lab}
    assert models == {'we"ird\\name\nx'}


def test_prometheus_values_of_a_run_and_of_a_cell_without_one():
    stored = _only(fixture("run_growing.json"), "restart")
    cells = [
        soak.CellRun(soak="s", matrix_key="s/k", result=RunResult.from_json(stored), outcome=Outcome.OK, finished=1.5),
        soak.CellRun(
            soak="s",
            matrix_key="s/none",
            outcome=Outcome.FAILED,
            error="cannot start: x",
            finished=2.0,
            last_success=1.5,
        ),
    ]
    text = prometheus.render(cells)
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    run = 'soak="s",key="s/k",strategy="restart",model=""'
    assert samples == [
        f"orch_soak_growth_mb_per_iter{{{run}}} 0.0",
        f"orch_soak_growth_ci95_high_mb_per_iter{{{run}}} 0.0",
        f"orch_soak_ttft_ms_median{{{run}}} 5.117652000080852",
        f"orch_soak_tokens_per_s_median{{{run}}} 1002.0167159835711",
        f'orch_soak_verdict{{{run},verdict="stable"}} 1.0',
        f'orch_soak_verdict{{{run},verdict="plateau"}} 0.0',
        f'orch_soak_verdict{{{run},verdict="growing"}} 0.0',
        f'orch_soak_verdict{{{run},verdict="shrinking"}} 0.0',
        f'orch_soak_verdict{{{run},verdict="none"}} 0.0',
        f"orch_soak_strategy_ok{{{run}}} 1.0",
        'orch_soak_regressions{soak="s",key="s/k"} 0.0',
        'orch_soak_regressions{soak="s",key="s/none"} 0.0',
        'orch_soak_run_failed{soak="s",key="s/k"} 0.0',
        'orch_soak_run_failed{soak="s",key="s/none"} 1.0',
        'orch_soak_last_run_timestamp_seconds{soak="s",key="s/k"} 1.5',
        'orch_soak_last_run_timestamp_seconds{soak="s",key="s/none"} 2.0',
        'orch_soak_last_success_timestamp_seconds{soak="s",key="s/k"} 0.0',
        'orch_soak_last_success_timestamp_seconds{soak="s",key="s/none"} 1.5',
    ]


# --- end to end on the calibration engine ----------------------------------------------------------
@pytest.mark.slow
def test_soak_end_to_end_on_the_calibration_engine(env):
    """The same config run twice: without a leak (exit 0), then leaking 1 MB per call
    (exit 1, the regression named)."""
    from orchestrator.cli import main

    def config(leak):
        opts = {"leak_mb": leak, **FAST}
        inline = ", ".join(f"{k} = {v}" for k, v in opts.items())
        return _write_config(
            env / "e2e.toml",
            f"""
            name = "e2e"
            out = "runs"
            [[matrix]]
            name = "calib"
            engine = "calibration"
            strategies = ["restart"]
            iters = 12
            warmup = 2
            engine_options = {{{inline}}}
        """,
        )

    prom = env / "orch.prom"
    first = CliRunner().invoke(main, ["soak", "--config", str(config(0)), "--prometheus", str(prom)])
    assert first.exit_code == 0, first.output
    second = CliRunner().invoke(main, ["soak", "--config", str(config(1)), "--prometheus", str(prom)])
    assert second.exit_code == 3, second.output
    assert "REGRESSION e2e/calib: restart: new `growing` verdict" in second.output
    runs = store.list_runs(kind="soak")
    assert [r.outcome for r in runs] == ["regression", "ok"]
    assert runs[0].results[0].growth_mb_per_iter == pytest.approx(1.0, abs=0.1)
    assert 'verdict="growing"} 1.0' in prom.read_text()
    assert (env / "runs" / runs[0].run_id / "run.json").exists()
    assert store.load_run(runs[0].run_id).soak.regressions[0].kind == "growing"
    from orchestrator.studies import attribution

    if attribution.tracer_missing() is None:  # --attribute: the leak is named, and stored
        third = CliRunner().invoke(main, ["soak", "--config", str(config(1)), "--attribute"])
        assert third.exit_code == 3, third.output
        assert "attribution of restart (memray" in third.output
        latest = store.load_run(store.list_runs(kind="soak")[0].run_id).results[0].attribution
        assert latest is not None and latest.stacks[0].name.startswith("native_alloc ")
        assert latest.stacks[0].mib_per_iter == pytest.approx(1.0, abs=0.1)


def test_soak_says_what_the_plan_decided_for_a_cell(env, monkeypatch):
    """RunPlan.build's notes reach the user (soak threw them away): a warm-up that leaves no
    iteration to measure is said, for its cell, before the first cell runs."""
    _fake_execute(monkeypatch, [_only(fixture("run_growing.json"), "restart")])
    config = _write_config(env / "fx.toml", CONFIG.replace("iters = 12\n    warmup = 2", "iters = 3\n    warmup = 3"))
    out = _soak(["--config", str(config)])
    assert out.exit_code == 0, out.output
    note = "note: fx/calib: --warmup 3 >= --iters 3: no iteration is left for the statistics"
    assert note in out.stderr.splitlines()
    assert out.stderr.index(note) < out.stderr.index("soak fx/calib: running restart")
