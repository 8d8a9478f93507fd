"""The memory guard on the calibration engine: a worker that leaks 50 MB per call under a
300 MB limit is stopped in the iteration that crosses it; what it measured stays; the next
strategy runs; the summary projects what the planned iterations would have needed."""

import json
import math

import pytest
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST


@pytest.mark.slow
def test_guard_stops_a_leaking_worker_at_the_expected_iteration(tmp_path):
    p = RunPlan(
        strategies=["restart", "fresh-process"],
        iters=20,
        warmup=1,
        engine="calibration",
        engine_options={**FAST, "leak_mb": 50.0},
        out_dir=tmp_path,
        iter_timeout=20,
    )
    p.max_rss_mb = 300.0
    res = execute(p)
    guarded, other = res.results
    assert guarded.status == "memory-limit"
    first = guarded.iterations[0].rss_mb
    # the first iteration whose 50 MB would cross 300 MB
    expected = math.floor((300.0 - first) / 50.0) + 2
    assert [it.i for it in guarded.iterations] == list(range(1, expected))
    assert f"during iteration {expected}, over the 300 MB limit (--max-rss-mb)" in guarded.error
    on_disk = [json.loads(line)["i"] for line in (p.run_dir / "restart.jsonl").read_text().splitlines()]
    assert on_disk == list(range(1, expected))
    projected = guarded.summary.projected_rss_mb
    assert abs(projected - (first + 50.0 * 19)) <= 5.0
    assert other.status == "ok" and len(other.iterations) == 20
