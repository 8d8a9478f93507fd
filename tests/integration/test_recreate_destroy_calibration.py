"""docs/engine-guide.md says: the calibration engine has no destroy of its own, so `recreate-destroy`
runs on it as `recreate` does (issue 18 item 10: it was documented "(chatllm only)")."""

import pytest
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST


def test_recreate_destroy_runs_on_calibration_as_recreate(tmp_path):
    plan = RunPlan(strategies=["recreate", "recreate-destroy"], iters=6, warmup=1, engine="calibration",
                   engine_options={**FAST, "leak_on_load_mb": 3.0}, out_dir=tmp_path, iter_timeout=20)
    by = {r.strategy: r for r in execute(plan).results}
    assert [by[s].status.value for s in ("recreate", "recreate-destroy")] == ["ok", "ok"]
    for s in ("recreate", "recreate-destroy"):
        assert by[s].summary.growth_mb_per_iter == pytest.approx(3.0, abs=0.15), s
        assert by[s].summary.verdict == "growing"
