"""The automatic sweep (orch load --sweep) on the calibration engine, and a level stopped once
over-saturated: GuideLLM's shape (synchronous, max throughput, then rates between from what
those two measured), every request accounted for (sent = ok + failed + timed out + dropped,
none cancelled), and a level far above capacity stops sending while the requests it sent run
to their end."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.engines.calibration.options import CalibrationOptions
from orchestrator.load.arrivals import OpenLoop
from orchestrator.load.levels import RequestRecord, Slo, level_stats
from orchestrator.load.pool import Pool, PoolConfig
from orchestrator.load.sweep import Sweep
from orchestrator.run import worker_config
from orchestrator.run.plan import RunPlan

# what orch load sends (LoadPlan.build): the one worker config, in serve mode
WORKER = worker_config.build(
    RunPlan(strategies=["restart"], engine_options=CalibrationOptions(ttft_ms=40.0, token_ms=1.0, model_mb=4.0)),
    "restart",
    serve=True,
)


@pytest.mark.slow
def test_sweep_runs_guidellms_shape_with_every_request_accounted_for(isolated):
    args = ["load", "--sweep", "--sweep-levels", "4", "--workers", "2", "--requests", "30", "--arrival", "constant",
            "--ttft-ms", "40", "--token-ms", "1", "--json", "r.json", "--out", "out"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads((isolated / "r.json").read_text())
    levels = data["levels"]
    assert [lv["arrivals"].split(" (")[0] for lv in levels[:2]] == ["synchronous", "throughput"]
    assert levels[0]["arrivals"] == "synchronous (concurrency 1)"
    assert levels[1]["arrivals"] == "throughput (concurrency 4)"
    expected = Sweep(4, 2).rates(levels[0]["throughput_rps"], levels[1]["throughput_rps"])
    assert [lv["offered_rate"] for lv in levels[2:]] == expected
    assert len(expected) == 2 and expected[-1] == float(f"{levels[1]['throughput_rps']:.4g}")
    for lv in levels:
        assert lv["accounted"] and lv["cancelled"] == 0
        assert lv["sent"] == lv["ok"] + lv["failed"] + lv["timed_out"] + lv["dropped"]
        if lv["stopped_early"] is None:
            assert lv["sent"] == 30
    assert data["plan"]["levels"] == ["sweep of 4 levels (constant)"]
    assert "synchronous (concurrency 1)" in result.output and "throughput (concurrency 4)" in result.output


@pytest.mark.slow
def test_a_level_far_over_capacity_stops_once_over_saturated(tmp_path):
    written: list[RequestRecord] = []
    pool = Pool(PoolConfig(worker_config=WORKER, workers=1, log_dir=tmp_path, sample_hz=2.0), written.append)
    counter = itertools.count(1)
    arrivals = OpenLoop("poisson", 80.0, seed=3)  # one worker of ~55 ms holds ~18/s
    try:
        pool.start()
        why = pool.run_level(0, arrivals, 2000, None, 0, [(None, None)], lambda: next(counter), stop_saturated=True)
    finally:
        pool.close()
    assert why is not None and why.startswith("over-saturated after "), why
    stats = level_stats(0, arrivals, written, Slo())
    assert stats.sent == len(written) < 2000  # it stopped sending
    assert (stats.ok, stats.failed, stats.timed_out, stats.dropped, stats.cancelled) == (stats.sent, 0, 0, 0, 0)
    assert stats.saturation.saturated
