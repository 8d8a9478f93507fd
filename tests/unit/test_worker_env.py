"""The worker's environment: an allow list plus what the user passes through, recorded."""

import os

from orchestrator.results.model import RunResult, WorkerEnvironment
from orchestrator.run import worker_env
from orchestrator.run.plan import RunPlan

SHELL = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "PYTHONPATH": "/src",
    "LD_PRELOAD": "/usr/lib/libjemalloc.so.2",
    "MALLOC_ARENA_MAX": "2",
    "OMP_NUM_THREADS": "1",
    "GGML_SCHED_MAX_COPIES": "4",
    "AWS_SECRET_ACCESS_KEY": "hunter2",
}


def test_only_the_allow_list_reaches_the_worker():
    env = worker_env.build({}, SHELL)
    assert env.environ == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/u",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PYTHONPATH": os.pathsep.join([str(worker_env.WORKERS_DIR), "/src"]),
        "PYTHONUNBUFFERED": "1",
    }
    rec = env.record
    assert rec.passed == []
    assert rec.dropped == ["GGML_SCHED_MAX_COPIES", "LD_PRELOAD", "MALLOC_ARENA_MAX", "OMP_NUM_THREADS"]
    assert rec.variables["LD_PRELOAD"] is None and rec.variables["GLIBC_TUNABLES"] is None
    assert set(rec.variables) == set(worker_env.RECORDED)  # each one, set or absent
    assert "AWS_SECRET_ACCESS_KEY" not in rec.variables and "AWS_SECRET_ACCESS_KEY" not in rec.dropped


def test_passed_through_by_name_or_with_a_value():
    passed = worker_env.parse(
        ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES=glibc.malloc.trim_threshold=0", "GGML_SCHED_MAX_COPIES", "NOT_SET_HERE"]
    )
    assert passed == {
        "MALLOC_ARENA_MAX": None,
        "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0",
        "GGML_SCHED_MAX_COPIES": None,
        "NOT_SET_HERE": None,
    }
    env = worker_env.build(passed, SHELL)
    assert env.environ["MALLOC_ARENA_MAX"] == "2"
    assert env.environ["GLIBC_TUNABLES"] == "glibc.malloc.trim_threshold=0"  # the value after the first '='
    assert "NOT_SET_HERE" not in env.environ
    rec = env.record
    assert rec.variables["MALLOC_ARENA_MAX"] == "2"
    assert rec.variables["GLIBC_TUNABLES"] == "glibc.malloc.trim_threshold=0"
    assert rec.variables["GGML_SCHED_MAX_COPIES"] == "4"  # a family's member, recorded when set
    assert rec.passed == ["GGML_SCHED_MAX_COPIES", "GLIBC_TUNABLES", "MALLOC_ARENA_MAX", "NOT_SET_HERE"]
    assert rec.dropped == ["LD_PRELOAD", "OMP_NUM_THREADS"]


def test_a_bad_name_is_a_plan_problem_naming_the_option():
    plan = RunPlan(strategies=["restart"], worker_env=worker_env.parse(["=x", "OK", "A-B=1"]))
    assert plan.validate(label=lambda key: "--" + key.replace("_", "-")) == [
        "--worker-env: '' is not an environment variable name",
        "--worker-env: 'A-B' is not an environment variable name",
    ]


def test_the_block_round_trips_and_old_results_have_none():
    block = WorkerEnvironment(variables={"LD_PRELOAD": None, "MALLOC_ARENA_MAX": "2"}, passed=["MALLOC_ARENA_MAX"])
    data = RunResult(run_id="r1", environment=block).to_json()
    assert list(data)[:8] == ["schema", "run_id", "started_at", "finished_at", "host", "engine", "plan", "environment"]
    assert data["environment"] == {
        "variables": {"LD_PRELOAD": None, "MALLOC_ARENA_MAX": "2"},
        "passed": ["MALLOC_ARENA_MAX"],
        "dropped": [],
    }
    assert RunResult.from_json(data).environment == block
    old = RunResult(run_id="r0").to_json()
    assert "environment" not in old  # a result without the block is written as before
    assert RunResult.from_json(old).environment is None
    newer = dict(data, environment={**data["environment"], "seen_by": "worker"})
    assert RunResult.from_json(newer).to_json()["environment"]["seen_by"] == "worker"  # kept
