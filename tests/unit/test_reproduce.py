"""`orch reproduce`: the study's experiments as they are defined (strategies, scenario,
models, iterations), the plan each becomes, the time estimate, and the refusal when the
full-shape models are missing. No chatllm.cpp needed: nothing here starts a worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.errors import ExitCode, OrchError
from orchestrator.run.plan import RunPlan
from orchestrator.studies import reproduce as rp

M06, M17, ALIGNER = "shape-qwen3-asr-0.6b.bin", "shape-qwen3-asr-1.7b.bin", "shape-qwen3-forced-aligner-0.6b.bin"


def test_the_four_experiments_as_the_study_ran_them():
    e = rp.EXPERIMENTS
    assert sorted(e) == ["exp1", "exp2", "exp3", "exp4"]
    assert (e["exp1"].strategies, e["exp1"].scenario, e["exp1"].models, e["exp1"].iters) == (
        ("restart",),
        "asr",
        (M06,),
        10,
    )
    assert (e["exp2"].strategies, e["exp2"].scenario, e["exp2"].models, e["exp2"].iters) == (
        ("restart", "recreate", "recreate-destroy"),
        "asr",
        (M06,),
        100,
    )
    assert (e["exp3"].strategies, e["exp3"].scenario, e["exp3"].models, e["exp3"].iters) == (
        ("fresh-process", "recreate", "recreate-destroy"),
        "switch",
        (M06, M17),
        100,
    )
    assert (e["exp4"].strategies, e["exp4"].scenario, e["exp4"].models, e["exp4"].iters) == (
        ("restart", "recreate"),
        "align",
        (ALIGNER,),
        100,
    )


def test_every_strategy_has_a_measured_cost_and_fits_its_scenario():
    from orchestrator.run import strategies

    for exp in rp.EXPERIMENTS.values():
        for s in exp.strategies:
            assert s in exp.cost, (exp.name, s)
            assert strategies.get(s).not_applicable(exp.scenario) is None, (exp.name, s)


def _kw(**over):
    kw = {
        "iters": None,
        "strategies": None,
        "models_dir": "models/full",
        "audio": None,
        "transcript": None,
        "chatllm_dir": "/nonexistent/chatllm.cpp",
        "threads": rp.DEFAULT_THREADS,
        "max_new_tokens": rp.DEFAULT_MAX_NEW_TOKENS,
        "max_rss_mb": rp.DEFAULT_MAX_RSS_MB,
        "out": "orch-results",
        "json_path": None,
    }
    kw.update(over)
    return kw


@pytest.mark.parametrize("name", ["exp1", "exp2", "exp3", "exp4"])
def test_plan_inputs_carry_the_experiment(name):
    exp = rp.EXPERIMENTS[name]
    given = rp.plan_inputs(exp, _kw(models_dir="m"))
    assert given.strategies == list(exp.strategies)
    assert given.scenario == exp.scenario
    assert given.models == [str(Path("m") / m) for m in exp.models]
    assert given.iters == exp.iters and given.engine == "chatllm"
    assert given.warmup == (2 if name == "exp1" else 10)
    assert given.max_rss_mb == 6000.0
    assert given.engine_options == {"chatllm_dir": "/nonexistent/chatllm.cpp", "threads": 2, "max_new_tokens": 8}
    assert given.audio.endswith("samples/phone-zh.wav") and Path(given.audio).is_file()
    assert given.language == (None if name == "exp4" else "Chinese")


def test_fewer_iterations_scale_the_warmup_down():
    exp = rp.EXPERIMENTS["exp2"]
    assert rp.plan_inputs(exp, _kw(iters=12)).warmup == 3
    assert rp.plan_inputs(exp, _kw(iters=40)).warmup == 10
    assert rp.plan_inputs(rp.EXPERIMENTS["exp3"], _kw(iters=6)).warmup == 1


def test_the_plan_is_built_by_runplan_build():
    plan, notes = RunPlan.build(rp.plan_inputs(rp.EXPERIMENTS["exp3"], _kw(iters=8, max_rss_mb=5000.0)))
    assert plan.strategies == ["fresh-process", "recreate", "recreate-destroy"]
    assert plan.scenario == "switch" and plan.iters == 8 and plan.warmup == 2
    assert [Path(m).name for m in plan.models] == [M06, M17]
    assert plan.max_rss_mb == 5000.0
    assert plan.engine_options.threads == 2 and plan.engine_options.max_new_tokens == 8
    assert plan.validate() == []


def test_guard_off_and_strategy_subset():
    exp = rp.EXPERIMENTS["exp2"]
    assert rp.plan_inputs(exp, _kw(max_rss_mb=0.0)).max_rss_mb == 0.0  # RunPlan.build: no guard
    chosen, notes = rp.choose_strategies(exp, "recreate-destroy")
    assert chosen == ["recreate-destroy"]
    assert notes == ["--strategies recreate-destroy: the study's exp2 ran restart, recreate, recreate-destroy"]
    assert rp.choose_strategies(exp, None) == (["restart", "recreate", "recreate-destroy"], [])


def test_estimate_stops_growing_strategies_at_the_guard():
    exp = rp.EXPERIMENTS["exp2"]
    c = exp.cost["recreate"]
    total, expected = exp.estimate_s(exp.strategies, 100, 6000.0)
    n = expected["recreate"]
    assert 1 < n < 100
    assert c.start_mb + (n - 2) * c.growth_mb < 6000.0 <= c.start_mb + (n - 1) * c.growth_mb
    assert expected["restart"] == 100
    no_guard, expected_off = exp.estimate_s(exp.strategies, 100, None)
    assert expected_off["recreate"] == 100 and no_guard > total


def test_missing_models_are_refused_naming_the_command(tmp_path):
    exp = rp.EXPERIMENTS["exp3"]
    (tmp_path / M06).write_bytes(b"x")
    with pytest.raises(OrchError) as info:
        rp.check_models(exp, str(tmp_path))
    msg = info.value.message
    assert info.value.exit_code == ExitCode.CANNOT_START
    assert "orch make-test-models --shape full" in msg and M17 in msg and M06 not in msg.split("missing:")[1]


@pytest.mark.parametrize("name", ["exp1", "exp2", "exp3", "exp4"])
def test_the_command_refuses_missing_models_with_exit_2(tmp_path, name):
    r = CliRunner().invoke(main, ["reproduce", name, "--models-dir", str(tmp_path / "none"), "--no-history"])
    assert r.exit_code == 2, r.output
    assert "orch make-test-models --shape full" in r.output and "Traceback" not in r.output
    for m in rp.EXPERIMENTS[name].models:
        assert m in r.output


def test_the_default_folder_needs_no_out_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["reproduce", "exp1", "--no-history"])
    assert r.exit_code == 2
    assert "`orch make-test-models --shape full`" in r.output


def test_models_present_but_no_chatllm_is_a_cannot_start(tmp_path):
    for m in (M06, M17):
        (tmp_path / m).write_bytes(b"not a model")
    r = CliRunner().invoke(
        main,
        [
            "reproduce",
            "exp3",
            "--models-dir",
            str(tmp_path),
            "--chatllm-dir",
            str(tmp_path / "no-chatllm"),
            "--no-history",
            "--dry-run",
        ],
    )
    assert r.exit_code == 2, r.output
    assert "cannot start" in r.output and "make-test-models" not in r.output


def test_describe_says_what_runs_and_how_long():
    exp = rp.EXPERIMENTS["exp2"]
    plan, _ = RunPlan.build(rp.plan_inputs(exp, _kw(iters=12)))
    text = rp.describe(exp, plan)
    assert "restart, recreate, recreate-destroy" in text
    assert "12 per strategy (warm-up 3); the study ran 100" in text
    assert "estimated time: ~" in text and "2-core" in text
    assert "memory guard 6000 MB" in text


def test_reproduce_is_an_orch_command():
    r = CliRunner().invoke(main, ["--help"])
    assert "reproduce" in r.output


def test_no_measured_figure_is_said_not_estimated_as_zero():
    exp = rp.EXPERIMENTS["exp1"]
    kw = _kw(strategies="fresh-process")
    plan, _ = RunPlan.build(rp.plan_inputs(exp, kw))
    text = rp.describe(exp, plan)
    assert "estimated time: unknown (no measured figure for fresh-process)" in text


def _dry_run(tmp_path, monkeypatch, *extra):
    """`--dry-run` past the models check, with preflight stubbed (no chatllm.cpp here)."""
    import orchestrator.run.preflight

    for m in (M06, M17, ALIGNER):
        (tmp_path / m).write_bytes(b"stand-in")
    monkeypatch.setattr(orchestrator.run.preflight, "preflight", lambda plan, label=None: [])
    monkeypatch.chdir(tmp_path)  # the default --out, orch-results, would be made here
    return CliRunner().invoke(main, ["reproduce", *extra, "--models-dir", str(tmp_path), "--no-history", "--dry-run"])


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path, monkeypatch):
    r = _dry_run(tmp_path, monkeypatch, "exp2", "--iters", "12")
    assert r.exit_code == 0, r.output
    assert "exp2: restart vs re-create" in r.stdout and "estimated time: ~" in r.stdout
    assert not (tmp_path / "orch-results").exists()


def test_json_format_keeps_stdout_for_the_json(tmp_path, monkeypatch):
    r = _dry_run(tmp_path, monkeypatch, "exp3", "--format", "json")
    assert r.exit_code == 0, r.output
    assert r.stdout == ""
    assert "exp3: 0.6B <-> 1.7B switching" in r.stderr
