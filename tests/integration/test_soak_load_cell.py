"""orch soak's load cell (kind = "load", studies/soak_load.py): its config checks and matrix
key, its alarms on exact figures (tests/load_runs.py), and end to end on the calibration
engine: alarms exit 3 and are in the Prometheus file, within its bounds exit 0, --accept,
a failed request exits 1, every run stored as a load run with its soak block."""

from __future__ import annotations

import textwrap

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.history import store
from orchestrator.results.model import Outcome
from orchestrator.studies import soak, soak_load
from test_history_soak import parse_textfile
from tests.load_runs import load_run


def _problems(text: str) -> list[str]:
    import tomllib

    return soak.validate_config(tomllib.loads(textwrap.dedent(text)))


def test_a_load_cell_is_checked_as_one():
    assert _problems("""
        [[matrix]]
        kind = "load"
        name = "svc"
        iters = 3
        min_goodput_rps = 2
        slo = "ttft=3"
        strategy = "recreate"
    """) == [
        "[[matrix]] #1 'svc': strategy must be one of restart, fresh-process, not 'recreate'",
        "[[matrix]] #1 'svc': slo is not an SLO: SLO term 'ttft=3': write NAME=NUMBER, NAME one of ttft_ms, "
        "ttft_dispatch_ms, itl_ms, latency_ms, queue_wait_ms, rtf",
        "[[matrix]] #1 'svc': a load cell needs one of `rate` (open loop) or `concurrency` (closed loop)",
        "[[matrix]] #1 'svc': iters are keys of a run cell, not of a load cell",
    ]
    assert _problems("""
        [[matrix]]
        kind = "load"
        rate = 5
        concurrency = 2
        requests = 10
        duration = 3
        min_goodput_rps = 1
    """) == [
        "[[matrix]] #1: a load cell needs one of `rate` (open loop) or `concurrency` (closed loop)",
        "[[matrix]] #1: give `requests` or `duration`, not both",
        "[[matrix]] #1: min_goodput_rps needs an `slo` (goodput is the requests meeting it)",
    ]
    assert _problems("""
        [[matrix]]
        strategies = ["restart"]
        rate = 5
    """) == ['[[matrix]] #1: rate are keys of a load cell: add kind = "load"']
    # a load cell beside run cells that inherit strategies and iters from [defaults]
    assert _problems("""
        [defaults]
        strategies = ["restart"]
        iters = 5
        [[matrix]]
        name = "calib"
        [[matrix]]
        kind = "load"
        rate = 5
    """) == []


def test_a_load_cells_matrix_key():
    cfg = {"name": "nightly"}
    assert soak.matrix_key(cfg, {"kind": "load", "rate": 10, "workers": 2}) == "nightly/load:calibration:restart:x2:10rps"
    assert soak.matrix_key(cfg, {"kind": "load", "concurrency": 4}) == "nightly/load:calibration:restart:x1:c4"
    assert soak.matrix_key(cfg, {"kind": "load", "name": "svc", "rate": 10}) == "nightly/svc"


def test_alarms_on_exact_figures():
    run = load_run(n=32)  # 8/s: p50 62.5 ms, goodput 8.13/s; 32/s: p50 546.9 ms (p99 at least that), goodput 1/s; memory +2 [1.5, 2.5]
    bounds = {"max_p99_latency_ms": 100.0, "min_goodput_rps": 2.0, "max_mb_per_1000": 1.0}
    assert [(a.kind, a.level, a.value, a.bound) for a in soak_load.alarms_of(run, bounds)] == [
        ("memory", 0, 2.0, 1.0),
        ("p99_latency", 1, 546.875, 100.0),
        ("goodput", 1, 1.0, 2.0),
        ("memory", 1, 2.0, 1.0),
    ]
    assert [a.message for a in soak_load.alarms_of(run, {"max_p99_latency_ms": 100.0, "min_goodput_rps": 2.0})] == [
        "32/s constant: p99 latency at least 546.9 ms (its p50; n=32 is too few for a p99) over the 100 ms bound",
        "32/s constant: goodput 1.00 req/s under the 2 req/s bound (SLO latency_ms=100)",
    ]
    long = load_run(rates=(32.0,))  # 662 requests: a p99 claim stands, as the early-stopping estimate
    (alarm,) = soak_load.alarms_of(long, {"max_p99_latency_ms": 100.0})
    assert alarm.value == long.levels[0].figure("latency_ms").p99 > long.levels[0].figure("latency_ms").p50
    assert alarm.message.startswith(f"32/s constant: p99 latency {alarm.value:.1f} ms over")
    # memory over the bound but its CI reaching 0 is no alarm: growth that may be noise
    assert soak_load.alarms_of(load_run(mb_per_1000=0.25), {"max_mb_per_1000": 0.1}) == []
    assert soak_load.alarms_of(run, {"max_p99_latency_ms": 2000.0, "max_mb_per_1000": 3.0}) == []


CONFIG = """
    name = "svc"
    out = "runs"
    [[matrix]]
    kind = "load"
    name = "level"
    rate = 20
    requests = 12
    workers = 2
    slo = "latency_ms=2000"
    engine_options = {{ttft_ms = 5.0, token_ms = 1.0{extra}}}
    {bounds}
"""


def _run(env, bounds: str, *args, extra: str = ""):
    path = env / "svc.toml"
    path.write_text(textwrap.dedent(CONFIG.format(bounds=bounds, extra=extra)))
    return CliRunner().invoke(main, ["soak", "--config", str(path), "--prometheus", str(env / "orch.prom"), *args])


@pytest.mark.slow
def test_a_load_cell_end_to_end(isolated):
    alarmed = _run(isolated, "max_p99_latency_ms = 1\nmin_goodput_rps = 1")
    assert alarmed.exit_code == 3, alarmed.output
    assert "REGRESSION svc/level: 20/s poisson: p99 latency" in alarmed.output
    prom = parse_textfile((isolated / "orch.prom").read_text())
    alarms = {s[0]["alarm"]: s[1] for s in prom["orch_soak_load_alarm"]}
    assert alarms == {"p99_latency": 1.0, "goodput": 0.0}
    assert [s[1] for s in prom["orch_soak_regressions"]] == [1.0]
    requests = {s[0]["status"]: s[1] for s in prom["orch_soak_load_requests"]}
    assert requests == {"sent": 12.0, "ok": 12.0, "failed": 0.0, "timed_out": 0.0, "dropped": 0.0, "cancelled": 0.0}
    # 12 requests are too few for a figure per 1000 requests: none is exported to be watched
    assert "orch_soak_load_mb_per_1000_requests" not in prom
    (stored,) = store.list_runs()
    assert (stored.kind, stored.matrix_key, stored.outcome, stored.status) == ("soak", "svc/level", "regression", "ok")
    kept = store.load_any(stored.run_id)
    assert kept.soak.outcome is Outcome.REGRESSION
    assert [a.kind for a in kept.alarms] == ["p99_latency"]

    within = _run(isolated, "max_p99_latency_ms = 60000\nmin_goodput_rps = 0.1")
    assert within.exit_code == 0, within.output
    accepted = _run(isolated, "max_p99_latency_ms = 1", "--accept")
    assert accepted.exit_code == 0, accepted.output
    assert [r.outcome for r in store.list_runs()] == ["ok", "ok", "regression"]
    assert len(store.list_load_levels(matrix_key="svc/level")) == 3


def test_a_failed_request_fails_the_cell(isolated):
    done = _run(isolated, "max_p99_latency_ms = 60000", extra=", crash_at = 3")
    assert done.exit_code == 1, done.output
    assert "FAILED svc/level: the load run failed:" in done.output
    (stored,) = store.list_runs()
    assert (stored.outcome, stored.status) == ("failed", "failed")
