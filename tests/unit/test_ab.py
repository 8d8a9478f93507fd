"""`orch ab`'s statistics, verdicts, side parsing and result block (no worker runs here;
tests/test_ab_calibration.py runs the calibration engine)."""

from __future__ import annotations

import functools
import itertools
import json
import math

import pytest
from click.testing import CliRunner
from orchestrator.commands import ab as ab_command
from orchestrator.errors import CannotStart
from orchestrator.results.ab_table import ab_rows
from orchestrator.results.model import (
    ABComparison,
    ABMetric,
    ABRound,
    ABVerdict,
    IterationRecord,
    RunResult,
    Status,
    StrategyResult,
    Summary,
    Thresholds,
)
from orchestrator.studies import ab


# ------------------------------------------------------------------ Hodges–Lehmann
def _exact_lower_quantile(m: int, n: int, alpha: float) -> int:
    """The largest c with P(U <= c - 1) <= alpha/2 under H0, by counting (no scipy): the
    number of differences left out at each end by the exact Mann–Whitney interval
    (R's qwilcox(alpha/2, m, n))."""
    # counts[u] for U = number of (i, j) with b_j > a_i, built one sample at a time

    @functools.cache
    def ways(i: int, j: int, u: int) -> int:
        if u < 0:
            return 0
        if i == 0 or j == 0:
            return 1 if u == 0 else 0
        return ways(i - 1, j, u - j) + ways(i, j - 1, u)

    total = math.comb(m + n, m)
    cum, c = 0, 0
    while True:
        cum += ways(m, n, c)
        if cum / total > alpha / 2:
            return c  # qwilcox: smallest c with P(U <= c) > alpha/2
        c += 1


@pytest.mark.parametrize("m, n", [(6, 6), (8, 10), (10, 10), (12, 9), (20, 20)])
def test_hodges_lehmann_interval_matches_the_exact_mann_whitney_one(m, n):
    a = [float(i) for i in range(m)]
    b = [0.37 * j + 100.0 for j in range(n)]  # every difference distinct: no ties
    est = ab.hodges_lehmann(a, b)
    diffs = sorted(y - x for x, y in itertools.product(a, b))
    c = _exact_lower_quantile(m, n, 0.05)
    # R: cint <- c(diffs[qu], diffs[ql + 1]) with qu = qwilcox(alpha/2, m, n), 1-based
    assert est.lo == diffs[c - 1] and est.hi == diffs[m * n - c]
    assert est.value == pytest.approx(
        sorted(diffs)[len(diffs) // 2] if len(diffs) % 2 else (diffs[len(diffs) // 2 - 1] + diffs[len(diffs) // 2]) / 2
    )


def test_hodges_lehmann_shift_of_a_shifted_sample_is_the_shift():
    a = [5.0, 5.2, 4.9, 5.1, 5.3, 5.0, 4.8, 5.05]
    est = ab.hodges_lehmann(a, [x + 2.0 for x in a])
    assert est.value == pytest.approx(2.0)
    assert est.lo < 2.0 < est.hi and est.lo > 0


def test_hodges_lehmann_too_few_values_has_no_interval():
    est = ab.hodges_lehmann([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    assert est.value == 3.0 and est.lo is None and est.hi is None and est.ci is None
    assert ab.hodges_lehmann([], [1.0]) is None


# ------------------------------------------------------------------ over rounds
def test_one_round_is_its_own_estimate():
    e = ab.Estimate(1.0, 0.5, 1.5)
    assert ab.combine([e]) is e
    assert ab.combine([]) is None


def test_rounds_that_agree_use_their_own_intervals():
    # each round: 1.0 ± 1.96 (se 1); two agreeing rounds: se 1/sqrt(2)
    out = ab.combine([ab.Estimate(1.0, 1.0 - ab.Z95, 1.0 + ab.Z95)] * 2)
    assert out.value == 1.0
    assert out.hi - out.value == pytest.approx(ab.Z95 / math.sqrt(2))


def test_rounds_that_disagree_widen_the_interval_with_t():
    from scipy import stats

    rounds = [ab.Estimate(v, v - 0.01, v + 0.01) for v in (0.0, 1.0, 2.0)]
    out = ab.combine(rounds)
    assert out.value == pytest.approx(1.0)
    assert out.hi - out.value == pytest.approx(stats.t.ppf(0.975, 2) * 1.0 / math.sqrt(3))


# ------------------------------------------------------------------ verdicts
def side(growth: float | None, ci=None, ttft=5.0, status=Status.OK, n=8, error=None) -> StrategyResult:
    its = [
        IterationRecord(i=i, warmup=i <= 2, ttft_ms=ttft + 0.01 * (i % 3), tokens_per_s=1000.0 + (i % 4), rss_mb=10.0)
        for i in range(1, n + 1)
    ]
    summary = None
    if growth is not None:
        summary = Summary(
            growth_mb_per_iter=growth, growth_ci95=ci if ci is not None else [growth - 0.01, growth + 0.01]
        )
    return StrategyResult(strategy="restart", status=status, iterations=its, summary=summary, error=error)


def rounds_of(a: StrategyResult, b: StrategyResult, r: int = 2) -> list[ABRound]:
    return [ABRound(round=k, a=a, b=b) for k in range(1, r + 1)]


TH = Thresholds()


@pytest.mark.parametrize("a, b, verdict", [
    (side(0.0), side(1.0), ABVerdict.REGRESSED),
    (side(1.0), side(0.0), ABVerdict.FIXED),
    (side(1.0), side(0.6), ABVerdict.STILL_GROWS),
    (side(1.0), side(1.0), ABVerdict.STILL_GROWS),
    (side(0.0), side(0.0), ABVerdict.NO_DIFFERENCE),
    (side(0.0), side(0.0, ttft=6.0), ABVerdict.REGRESSED),  # 20% slower TTFT
    (side(0.0), side(0.0, ttft=4.0), ABVerdict.IMPROVED),
    (side(0.0), side(0.0, ttft=5.1), ABVerdict.NO_DIFFERENCE),  # 2%: under --speed-pct 5
    (side(0.0), side(0.05), ABVerdict.NO_DIFFERENCE),  # under the growth threshold
    (side(1.0), side(0.0, ttft=6.0), ABVerdict.REGRESSED),  # fixed the leak, slower: says both
    (side(None, status=Status.CRASHED, n=1, error="SIGABRT"), side(0.9), ABVerdict.STILL_GROWS),
    (side(None, status=Status.CRASHED, n=1), side(0.0), ABVerdict.FIXED),
    (side(0.0), side(None, status=Status.CRASHED, n=1), ABVerdict.REGRESSED),
    (side(None, status=Status.CRASHED, n=1), side(None, status=Status.CRASHED, n=1), ABVerdict.NO_DIFFERENCE),
    # memory that falls is no leak: A shrinking and B flat is no regression, nor the reverse a fix
    (side(-1.0), side(0.0), ABVerdict.NO_DIFFERENCE),
    (side(-1.0), side(-0.2), ABVerdict.NO_DIFFERENCE),
    (side(0.0), side(-1.0), ABVerdict.NO_DIFFERENCE),
    (side(-1.0), side(1.0), ABVerdict.REGRESSED),  # B's memory grows: that is judged
    (side(1.0), side(-1.0), ABVerdict.FIXED),
])
def test_verdicts(a, b, verdict):
    out = ab.judge(rounds_of(a, b), TH, speed_pct=5.0)
    assert out.verdict is verdict, out.reasons
    assert out.reasons


def test_fixed_but_slower_says_both():
    out = ab.judge(rounds_of(side(1.0), side(0.0, ttft=6.0)), TH, speed_pct=5.0)
    assert out.reasons == ["B is worse: TTFT ms B − A +1.00 [+0.99, +1.01]", "(its memory no longer grows)"]


def test_shrinking_against_flat_says_why_it_is_not_judged():
    out = ab.judge(rounds_of(side(-1.0), side(0.0)), TH, speed_pct=5.0)
    assert out.reasons == [
        "growth MB/iter B − A +1.000 [+0.990, +1.010] not judged: neither side's memory grows (falling is no leak)",
        "no figure differs beyond its threshold with a CI that excludes 0",
    ]


def test_growth_figures_and_interval():
    out = ab.judge(rounds_of(side(0.0, [-0.02, 0.02]), side(1.0, [0.98, 1.02])), TH, speed_pct=5.0)
    g = out.growth_mb_per_iter
    assert (g.a, g.b, g.diff) == (0.0, 1.0, 1.0)
    # per round se = hypot(0.02, 0.02)/1.96; two agreeing rounds: / sqrt(2)
    half = ab.Z95 * math.hypot(0.02 / ab.Z95, 0.02 / ab.Z95) / math.sqrt(2)
    assert g.ci95 == pytest.approx([1.0 - half, 1.0 + half])
    assert g.a_ci95 == pytest.approx([-0.02 / math.sqrt(2), 0.02 / math.sqrt(2)])


def test_skipped_on_both_sides_is_no_difference():
    skipped = StrategyResult(strategy="restart", scenario="switch", status=Status.SKIPPED, error="keeps one model")
    out = ab.judge(rounds_of(skipped, skipped), TH, speed_pct=5.0)
    assert out.verdict is ABVerdict.NO_DIFFERENCE and out.reasons == ["not applicable: keeps one model"]
    assert out.growth_mb_per_iter is None and out.ttft_ms is None


# ------------------------------------------------------------------ the sides' options
def test_a_side_gives_only_what_it_names():
    assert ab_command.side_options("--leak-mb 1", "B") == {"leak_mb": 1.0}
    assert ab_command.side_options("--engine-arg=--seed --engine-arg 1 --threads 2", "A") == {
        "engine_args": ("--seed", "1"),
        "threads": 2,
    }
    assert ab_command.side_options("", "A") == {}


@pytest.mark.parametrize("text, message", [
    ("--leek-mb 1", "cannot start: --a '--leek-mb 1': No such option"),
    ("--threads two", "cannot start: --a '--threads two': --threads: 'two' is not a valid integer"),
    ("--out x", "cannot start: --a: --out belong to the whole A/B run: give them to orch ab itself, not to one side"),
    ("--leak-mb '1", "cannot start: --a \"--leak-mb '1\": No closing quotation"),
])
def test_bad_side_options_are_named(text, message):
    with pytest.raises(CannotStart) as exc:
        ab_command.side_options(text, "A")
    assert exc.value.message.startswith(message)


def test_cli_refuses_before_any_worker(tmp_path):
    from orchestrator.cli import main

    res = CliRunner().invoke(
        main,
        [
            "ab",
            "--a",
            "--leak-mb -1",
            "--b",
            "--leak-mb 1",
            "--strategies",
            "restart",
            "--no-history",
            "--out",
            str(tmp_path / "o"),
        ],
    )
    assert res.exit_code == 2
    assert "orch: cannot start: A: --leak-mb must be a number >= 0, not -1.0" in res.output
    assert not (tmp_path / "o").exists()
    res = CliRunner().invoke(main, ["ab", "--a", "", "--b", "", "--strategies", "restart,nope", "--no-history"])
    assert res.exit_code == 2 and "unknown strategy 'nope'" in res.output


# ------------------------------------------------------------------ the result block
def test_ab_block_round_trips_and_only_ab_results_have_it():
    comparison = ab.judge(rounds_of(side(0.0), side(1.0)), TH, speed_pct=5.0)
    comparison.options = {"a": "--leak-mb 0", "b": "--leak-mb 1"}
    entry = StrategyResult(strategy="restart", ab=comparison)
    run = RunResult(run_id="r", results=[entry, StrategyResult(strategy="cli")])
    data = json.loads(json.dumps(run.to_json()))
    block = data["results"][0]["ab"]
    assert set(block["growth_mb_per_iter"]) >= {"a", "b", "diff", "ci95"}
    assert block["verdict"] == "regressed" and len(block["rounds"]) == 2
    assert "ab" not in data["results"][1]
    again = RunResult.from_json(data)
    assert isinstance(again.results[0].ab, ABComparison)
    assert isinstance(again.results[0].ab.growth_mb_per_iter, ABMetric)
    assert again.results[0].ab.rounds[1].b.summary.growth_mb_per_iter == 1.0
    assert again.to_json() == run.to_json()
    data["results"][0]["ab"]["from_the_future"] = 1
    assert RunResult.from_json(data).to_json()["results"][0]["ab"]["from_the_future"] == 1


def test_table_rows():
    comparison = ab.judge(rounds_of(side(0.0), side(1.0)), TH, speed_pct=5.0)
    run = RunResult(run_id="r", results=[StrategyResult(strategy="restart", ab=comparison)])
    rows = ab_rows(run)
    assert rows[0] == ["restart", "growth MB/iter", 0.0, 1.0, 1.0, "[0.990, 1.010]", "regressed"]
    assert [r[1] for r in rows] == ["growth MB/iter", "TTFT ms", "tok/s"]
    assert ab.exit_code(run, interrupted=False) == 3  # ExitCode.REGRESSED
    assert ab.exit_code(run, interrupted=True) == 130


def test_ctrl_c_keeps_what_was_measured(tmp_path, monkeypatch):
    """A Ctrl-C inside B's first run: A's round and B's cut-off result are kept, written and
    judged (a side cut short has not failed); exit 130."""
    from orchestrator.run import runner
    from orchestrator.run.plan import RunPlan

    calls = []

    def fake_execute(plan, progress_factory=None):
        calls.append((plan.run_dir.parent.name, plan.strategies[0]))
        result = RunResult(run_id=plan.run_id, host={"hostname": "h"}, results=[side(0.0)])
        if len(calls) == 2:
            result.results[0].status = Status.INTERRUPTED
            raise runner.RunInterrupted(result)
        return result

    monkeypatch.setattr(runner, "execute", fake_execute)
    sides = [ab.Side(label, "", {}, RunPlan(strategies=["restart", "recreate"]), []) for label in "AB"]
    done = ab.run_ab(sides, ["restart", "recreate"], rounds=2, speed_pct=5.0, out=tmp_path, echo=lambda _t: None)
    assert done.interrupted and calls == [("a-r1", "restart"), ("b-r1", "restart")]
    assert [e.strategy for e in done.result.results] == ["restart"]
    block = done.result.results[0].ab
    assert block.rounds[0].b.status is Status.INTERRUPTED and block.verdict is ABVerdict.NO_DIFFERENCE
    assert block.reasons[0] == "interrupted (Ctrl-C): B round 1 cut short; judged on what was measured"
    assert (done.run_dir / "run.json").is_file()
    assert ab.exit_code(done.result, done.interrupted) == 130


def test_what_both_sides_share_and_what_differs():
    assert ab.merged({"name": "c", "x": 1, "y": 2}, {"name": "c", "x": 1, "y": 3, "z": 4}) == {
        "name": "c",
        "x": 1,
        "ab": {"a": {"y": 2}, "b": {"y": 3, "z": 4}},
    }
    assert ab.merged({"x": 1}, {"x": 1}) == {"x": 1}


# ------------------------------------------------------------------ across engines
def test_all_across_engines_says_what_only_one_side_runs():
    kws = {"A": {"engine": "chatllm"}, "B": {"engine": "transformers"}}
    assert ab_command.left_out(kws, ["restart", "recreate", "fresh-process"]) == (
        "--all: left out what only one side's engine runs: recreate-destroy (chatllm only), cli (chatllm only), "
        "cli-interactive (chatllm only)"
    )
    same = {"A": {"engine": "calibration"}, "B": {"engine": "calibration"}}
    assert ab_command.left_out(same, list(ab_command.registry.for_engine("calibration"))) is None


def test_each_sides_engine_and_model_are_named_when_they_differ():
    from orchestrator.run.plan import RunPlan

    def side(label, engine, model):
        plan = RunPlan(strategies=["restart"], engine=engine, models=[model] if model else [])
        return ab.Side(label, "", {}, plan, [])

    sides = [side("A", "calibration", None), side("B", "transformers", "/m/tiny-asr-a")]
    assert ab_command.side_lines(sides) == ["A: engine calibration, model -", "B: engine transformers, model tiny-asr-a"]
    assert ab_command.side_lines([side("A", "calibration", None), side("B", "calibration", None)]) == []


def test_a_side_cannot_compare_engines_itself():
    with pytest.raises(CannotStart, match="--b: --engines belong to `orch compare --engines`; a side is one engine"):
        ab_command.side_options("--engines chatllm,transformers", "B")
