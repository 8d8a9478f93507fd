"""The workers' environment on real workers: what is not allowed does not reach them, what
can change memory is recorded in the result."""

import json
from pathlib import Path

import pytest
from orchestrator.engines.calibration.options import CalibrationOptions
from orchestrator.run import worker_env
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute
from orchestrator.run.worker_process import WorkerProcess
from workers import protocol

from conftest import FAST


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_variable_off_the_allow_list_does_not_reach_the_worker(tmp_path, monkeypatch):
    monkeypatch.setenv("ORCH_TEST_NOT_ALLOWED", "leaked")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    config = protocol.WorkerConfig(
        strategy="restart",
        engine="calibration",
        engine_class="workers.engines.calibration:CalibrationEngine",
        engine_options=CalibrationOptions(**FAST).to_worker(),  # every option, as the runner sends them
        iters=1,
    )
    env = worker_env.build({"OMP_NUM_THREADS": None})
    with WorkerProcess("w#1", config, tmp_path / "w.log", env=env.environ) as wp:
        assert isinstance(wp.next_event(None), protocol.Ready)
        assert isinstance(wp.next_event(None), protocol.Phase)  # paused at before_load: read it now
        seen = environ_of(wp.pid)
        wp.kill()
    assert "ORCH_TEST_NOT_ALLOWED" not in seen and "MALLOC_ARENA_MAX" not in seen
    assert seen["OMP_NUM_THREADS"] == "1"  # passed through
    assert seen == env.environ


@pytest.mark.slow
def test_the_run_records_the_environment_and_the_host(tmp_path, monkeypatch):
    monkeypatch.setenv("MALLOC_ARENA_MAX", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    plan = RunPlan(
        strategies=["restart"],
        iters=2,
        warmup=0,
        engine="calibration",
        engine_options=FAST,
        out_dir=tmp_path,
        iter_timeout=20,
        worker_env={"MALLOC_ARENA_MAX": None},
    )
    result = execute(plan)
    assert result.results[0].status == "ok"
    on_disk = json.loads((plan.run_dir / "run.json").read_text())
    env = on_disk["environment"]
    assert env["variables"]["MALLOC_ARENA_MAX"] == "2"
    assert env["variables"]["GLIBC_TUNABLES"] is None and env["variables"]["OMP_NUM_THREADS"] is None
    assert env["passed"] == ["MALLOC_ARENA_MAX"]
    assert "OMP_NUM_THREADS" in env["dropped"] and "MALLOC_ARENA_MAX" not in env["dropped"]
    host = on_disk["host"]
    for key in ("glibc", "transparent_hugepage", "cpu_model", "cpu_governor", "load_avg_start", "load_avg_end"):
        assert key in host, key
    assert host["load_avg_end"] is None or len(host["load_avg_end"]) == 3
