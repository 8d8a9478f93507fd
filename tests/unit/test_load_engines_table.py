"""`orch load --engines A,B` and `--min-requests/--min-duration` without processes: the options
read (the floor and how it combines with --requests/--duration; the engines and their models
as `orch compare --engines` reads them, each engine's plan in its own folder), the floor's
arithmetic, and the table across engines from exact load runs (tests/load_runs.py)."""

from __future__ import annotations

import pytest
from orchestrator.commands import load_options
from orchestrator.errors import CannotStart
from orchestrator.load import cli_inputs
from orchestrator.load.arrivals import OpenLoop
from orchestrator.load.length import DEFAULT_MIN_REQUESTS, Floor
from orchestrator.results import early_stopping, figures
from orchestrator.results import load_engines as table
from orchestrator.results.load_engines import EngineLoadRow
from orchestrator.studies.load_engines import labels
from tests.load_runs import load_run


def _kw(*args: str) -> tuple[dict, set[str], dict[str, str]]:
    """`orch load`'s options as click reads them: (values, given on the command line, flags)."""
    cmd = load_options.parser()
    ctx = cmd.make_context("orch load", list(args))
    given = {n for n in ctx.params if ctx.get_parameter_source(n).name == "COMMANDLINE"}
    return ctx.params, given, {p.name: p.opts[0] for p in cmd.params if p.name}


# --- the floor: --min-requests / --min-duration


def test_the_default_floor_is_what_a_p90_claim_needs():
    kw, _, _ = _kw("--rate", "2")
    problems: list[str] = []
    assert cli_inputs.floor(kw, problems) == Floor(early_stopping.min_requests(0.9), 0.0)
    assert DEFAULT_MIN_REQUESTS == early_stopping.min_requests(0.9) and not problems
    assert cli_inputs.request_count(kw) is None  # no fixed count: the level runs to its floor


def test_floors_given_and_a_fixed_length_keeps_working():
    kw, _, _ = _kw("--rate", "2", "--min-requests", "10", "--min-duration", "2.5")
    assert cli_inputs.floor(kw, []) == Floor(10, 2.5)
    for fixed in (("--requests", "20"), ("--duration", "3")):
        kw, _, _ = _kw("--rate", "2", *fixed)
        problems: list[str] = []
        assert cli_inputs.floor(kw, problems) is None and not problems


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--requests", "20", "--min-requests", "64"), "--requests fixes a level's length and --min-requests sets its floor: give one or the other"),
        (("--duration", "5", "--min-duration", "9"), "--duration fixes a level's length and --min-duration sets its floor: give one or the other"),
        (("--min-requests", "0",), "--min-requests must be >= 1 (got 0)"),
        (("--min-duration", "-1",), "--min-duration must be >= 0 (got -1)"),
    ],
)  # fmt: skip
def test_a_contradiction_is_one_line(args, problem):
    kw, _, _ = _kw("--rate", "2", *args)
    problems: list[str] = []
    assert cli_inputs.floor(kw, problems) is None
    assert problems == [problem]


def test_the_floor_is_met_by_both_and_says_what_a_short_level_lacks():
    floor = Floor(64, 10.0)
    assert not floor.met(64, 9.9) and not floor.met(63, 10.0) and floor.met(64, 10.0)
    short = floor.verdict(40, 12.0)
    assert (short["met"], short["completed"], short["min_requests"]) == (False, 40, 64)
    assert (
        short["why"] == "too short for its claims: 40 of 64 requests completed (--min-requests); a p90 claim needs 64"
    )
    assert floor.verdict(70, 12.0) == {**floor.verdict(70, 12.0), "met": True, "why": None}


def test_an_open_loop_stream_is_the_same_schedule_without_end():
    arrivals = OpenLoop("poisson", 5.0, seed=3)
    stream = arrivals.stream()
    assert [next(stream) for _ in range(50)] == arrivals.offsets(count=50)


# --- --engines: the engines and their models, each engine's plan


def test_engines_as_compare_reads_them_each_in_its_own_folder(tmp_path):
    kw, given, flags = _kw(
        "--engines",
        "calibration,calibration",
        "--rate",
        "2",
        "--min-requests",
        "4",
        "--no-history",
        "--out",
        str(tmp_path),
    )
    root, plans = load_options.engine_plans(kw, given, flags, [])
    assert labels(["calibration", "calibration", "chatllm"]) == ["calibration", "calibration-2", "chatllm"]
    assert [p.label for p in plans] == ["calibration", "calibration-2"]
    assert [p.plan.run_dir for p in plans] == [root / "calibration", root / "calibration-2"]
    assert all(p.plan.json_path == p.plan.run_dir / "load.json" and p.plan.floor == Floor(4) for p in plans)
    assert {p.plan.pool.worker_config.engine for p in plans} == {"calibration"}


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--engines", "calibration,nope"), "--engines: unknown engine nope"),
        (("--engines", "calibration", "--engine", "calibration"), "--engines runs worker processes of each engine: not with --engine"),
        (("--engines", "calibration,chatllm", "--model", "x.bin"), "--model x.bin: with --engines say which engine it is for"),
        (("--engines", "calibration", "--requests", "5", "--min-requests", "9"), "--requests fixes a level's length"),
    ],
)  # fmt: skip
def test_engines_refused_before_anything_runs(args, problem, tmp_path):
    kw, given, flags = _kw(*args, "--rate", "2", "--no-history", "--out", str(tmp_path))
    with pytest.raises(CannotStart) as info:
        load_options.engine_plans(kw, given, flags, [])
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_model_is_once_a_run_without_engines(tmp_path):
    kw, given, flags = _kw("--rate", "2", "--model", "a", "--model", "b", "--no-history", "--out", str(tmp_path))
    with pytest.raises(CannotStart) as info:
        load_options.plan_from(kw, given, flags, [])
    assert "--model given more than once" in " ".join(info.value.problems)


# --- the table across engines


def _row(label: str, **change) -> EngineLoadRow:
    return EngineLoadRow(label, "calibration", None, load_run(**{"rates": (4.0, 8.0, 16.0, 32.0), "n": 64, **change}))


def test_a_row_per_engine_with_the_rate_its_confidence_and_latency_at_fractions():
    item = _row("calibration")
    run = item.run
    assert run.max_sustainable_rate == 16.0  # 32/s is over the 16/s one worker serves
    row = table.row(item)
    assert row[0] == "calibration" and row[1] == figures.load("offered_rate").cell(16.0)
    assert row[2] == "p90 in SLO at 99% (0 of 64 over)"
    at_50, at_70, at_90 = row[3:6]
    assert at_50 == "62/62 ms"  # 8/s is 50% of 16: p50/p90 (p99 needs 662: not shown)
    assert at_70 == "62/62 ms (at 8/s, the nearest level)"  # 11.2/s: no level near it
    assert at_90 == "62/62 ms"  # 16/s is within 10% of 14.4/s
    assert row[6] == "+2.00" and row[7] is None and row[8] == "16/s constant"
    out = table.table([item, EngineLoadRow("chatllm", "chatllm", "m.bin", None, "cannot start: no model")])
    lines = out.splitlines()
    assert lines[0].split()[0] == "engine" and figures.load("mb_per_1000").label in lines[0]
    assert [line.split()[0] for line in lines[2:]] == ["calibration", "chatllm"]
    assert "error: cannot start: no model" in lines[3]


def test_p99_where_supported_and_not_supported_when_too_short():
    long = table.row(_row("long", rates=(8.0, 16.0), n=662))
    assert long[3] == "62/62 ms, p99 62"
    short = _row("short", rates=(8.0,), n=32)  # 32 requests cannot show 90% in the SLO: 44 needed
    assert short.run.max_sustainable_rate is None
    assert table.confidence(short.run) == "not supported: at 8/s 0 of 32 over, needs 12 more"
    assert table.row(short)[3:6] == [None, None, None]


def test_the_engines_section_of_the_json():
    doc = table.to_json(_row("calibration"))
    assert (doc["label"], doc["max_sustainable_rate"], doc["mb_per_1000"], doc["accounted"]) == (
        "calibration",
        16.0,
        2.0,
        True,
    )
    assert [(f["fraction"], f["level_rate"], f["near"]) for f in doc["at_fractions"]] == [
        (0.5, 8.0, True),
        (0.7, 8.0, False),
        (0.9, 16.0, True),
    ]
    assert doc["at_fractions"][0]["latency_ms"]["p99"] is None  # not supported by 64
    assert table.to_json(EngineLoadRow("x", "chatllm", None, None, "cannot start"))["status"] == "error"


def test_the_level_length_as_history_and_the_report_say_it():
    run = load_run(n=32)
    assert run.level_length == "32 requests"
    run.plan = {**run.plan, "requests": None, "min_requests": 64, "min_duration_s": 10.0}
    assert run.level_length == "at least 64 requests and 10 s"
    run.plan = {**run.plan, "min_duration_s": 0}
    assert run.level_length == "at least 64 requests"
