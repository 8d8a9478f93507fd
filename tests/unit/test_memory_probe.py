"""orchestrator/studies/retention.py: leak or retention, from the after_unload series of the arms."""

import os
from types import SimpleNamespace

import pytest
from orchestrator.engines.options import ChatLLMOptions
from orchestrator.results.model import IterationRecord, PhaseMark, Status
from orchestrator.results.retention_probe import probe_report
from orchestrator.run.plan import RunPlan
from orchestrator.studies import retention as mp


def its(after_unload, start=1, warmup=0, after_infer_extra=100.0):
    return [
        IterationRecord(
            i=start + k, warmup=k < warmup, rss_mb=v + after_infer_extra, phases={"after_unload": PhaseMark(rss_mb=v)}
        )
        for k, v in enumerate(after_unload)
    ]


@pytest.mark.parametrize(
    "plain, trimmed, kept, verdict",
    [
        (69.16, 69.16, 1.2, "leak"),  # upstream recreate, tiny: held by the bindings
        (40.93, 40.92, 639.0, "leak + retention"),  # recreate-destroy (fix), full shape
        (5.0, 0.1, 50.0, "retention"),
        (0.1, 0.0, 50.0, "retention"),  # flat, but plain keeps a constant on top
        (0.0, 0.0, 0.0, "stable"),
        (10.0, 4.0, 0.0, "partly retention"),
        (0.0, 3.0, 0.0, "unknown"),
        (None, 1.0, None, "unknown"),
    ],
)
def test_classify(plain, trimmed, kept, verdict):
    assert mp.classify(plain, trimmed, kept) == verdict


def test_figures_leave_warmup_out_and_fit_the_growth():
    f = mp.figures("plain", "ok", its([500.0, 510.0, 520.0, 530.0, 540.0], warmup=2))
    assert f.iters == [3, 4, 5] and f.after_unload_mb == [520.0, 530.0, 540.0]
    assert f.slope == pytest.approx(10.0)
    assert f.growth_after_infer[0] == pytest.approx(10.0)


def test_retained_is_the_mean_gap_on_shared_iterations():
    plain = mp.figures("plain", "ok", its([802.1, 843.0, 883.9]))
    trim = mp.figures("trim", "ok", its([163.1, 204.0]))
    assert mp.retained(plain, trim) == pytest.approx(639.0)


def test_worker_options_go_through_the_typed_option():
    base = ChatLLMOptions(threads=2)
    wrapped = mp.with_worker_options(base, {"trim_after_unload": True})
    assert isinstance(wrapped, ChatLLMOptions) and wrapped.trim_after_unload is True
    assert wrapped.to_worker() == {**base.to_worker(), "trim_after_unload": True}
    assert wrapped.describe()["trim_after_unload"] is True
    assert wrapped.threads == 2
    assert mp.with_worker_options(base, {}) is base
    assert mp.with_worker_options(base, {"threads": 1}).threads == 1  # a known field: replaced


def test_an_arms_variables_join_the_plans_pass_through():
    """Workers get only what is passed through (orchestrator.run.worker_env): the arm's
    variables join --worker-env's; a GLIBC_TUNABLES passed through is extended."""
    shell = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"}
    extra = {"GLIBC_TUNABLES": mp.TUNABLE, "ORCH_PROBE_X": "1"}
    assert mp.with_worker_env({}, extra, shell) == extra  # not passed through: not extended
    assert mp.with_worker_env({"GLIBC_TUNABLES": None}, extra, shell) == {
        "GLIBC_TUNABLES": f"glibc.malloc.arena_max=2:{mp.TUNABLE}",
        "ORCH_PROBE_X": "1",
    }
    given = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=4", "MALLOC_ARENA_MAX": None}
    assert mp.with_worker_env(given, extra, shell) == {
        "GLIBC_TUNABLES": f"glibc.malloc.arena_max=4:{mp.TUNABLE}",
        "MALLOC_ARENA_MAX": None,
        "ORCH_PROBE_X": "1",
    }
    assert mp.with_worker_env(given, {}, shell) == given


def test_probe_runs_each_arm_with_its_option_and_environment(tmp_path):
    seen = []
    series = {
        "plain": [802.1, 843.0, 883.9, 924.8],
        "trim": [163.1, 204.0, 245.0, 285.9],
        "tunable": [165.3, 206.4, 247.4, 288.4],
    }

    def execute(plan):
        arm = plan.run_id.rsplit("-", 1)[1]
        seen.append(
            (
                arm,
                plan.strategies,
                plan.engine_options.to_worker().get("trim_after_unload"),
                plan.worker_env.get("GLIBC_TUNABLES"),
            )
        )
        entry = SimpleNamespace(status=Status.OK, iterations=its(series[arm]))
        return SimpleNamespace(results=[entry])

    plan = RunPlan(
        strategies=["restart", "recreate-destroy"],
        iters=4,
        warmup=0,
        engine="chatllm",
        engine_options={"threads": 2},
        out_dir=tmp_path,
    )
    tunables = os.environ.get("GLIBC_TUNABLES")
    r = mp.probe(plan, "recreate-destroy", execute=execute)
    assert [s[3] for s in seen] == [None, None, mp.TUNABLE]  # only the tunable arm's workers get it
    assert [s[0] for s in seen] == ["plain", "trim", "tunable"]
    assert all(s[1] == ["recreate-destroy"] for s in seen)
    assert [s[2] for s in seen] == [None, True, None]
    assert r.verdict == "leak + retention" and r.retained_mb == pytest.approx(639.0)
    assert "leak + retention" in probe_report(r) and r.to_json()["arms"][1]["arm"] == "trim"
    assert os.environ.get("GLIBC_TUNABLES") == tunables


def test_the_command_offers_the_studys_arms():
    from orchestrator.commands.retention import ARM_NAMES

    assert ARM_NAMES == tuple(a.name for a in mp.ARMS)
