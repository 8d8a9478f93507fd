"""Transcript drift (orchestrator.results.drift), the decoding a plan gives each engine
(orchestrator.engines.decoding) and the calibration engine's drift and sampling: exact values."""

import json

import pytest
from orchestrator.engines import decoding
from orchestrator.engines.calibration.options import TRANSCRIPT
from orchestrator.results import drift, output
from orchestrator.results.model import IterationRecord, RunResult, StrategyResult, Summary
from orchestrator.run import worker_config
from orchestrator.run.plan import RunPlan
from workers.engines import calibration, chatllm


def its(*texts, model=None, start=1):
    return [IterationRecord(i=start + k, model=model, text_raw=t, text=t) for k, t in enumerate(texts)]


def summary_of(iterations, decoding_="greedy"):
    s = Summary()
    drift.summarize(s, iterations, decoding_)
    return s


def test_a_text_that_changes_is_found_at_its_iteration_with_counts_and_distance():
    s = summary_of(its("a b c", "a b c", "a b d", "a b d", "a b c"))
    assert (s.text_stable, s.first_changed_at, s.changed_iterations) == (False, 3, 2)
    assert s.edit_distance_mean == pytest.approx(0.5)  # (0 + 1 + 1 + 0) / 4


def test_the_same_text_every_time_is_stable():
    s = summary_of(its("x y", " x y\n", "x y"))  # surrounding whitespace is framing, not text
    assert (s.text_stable, s.first_changed_at, s.changed_iterations, s.edit_distance_mean) == (True, None, 0, 0.0)


def test_warm_up_iterations_are_compared_too():
    records = its("first", "second", "second")
    records[0].warmup = records[1].warmup = True
    s = summary_of(records)
    assert (s.text_stable, s.first_changed_at, s.changed_iterations) == (False, 2, 2)


@pytest.mark.parametrize(
    "records, decoding_",
    [
        (its("a", "b", "c"), "sampled"),  # sampled: texts may differ, nothing is said
        (its("", "", ""), "greedy"),  # no text
        (its("only one"), "greedy"),  # nothing to compare with
    ],
)
def test_drift_is_unknown_when_sampled_without_text_or_with_one_iteration(records, decoding_):
    s = summary_of(records, decoding_)
    assert (s.text_stable, s.first_changed_at, s.changed_iterations, s.edit_distance_mean) == (None,) * 4


def test_scenario_switch_compares_each_model_with_its_own_first_text():
    records = sorted(its("aa", "aa", "aa", model="m1") + its("bb", "bb", "bX", model="m2"), key=lambda r: r.i)
    s = summary_of(records)
    assert (s.text_stable, s.first_changed_at, s.changed_iterations) == (False, 3, 1)


def run_of(**texts_by_strategy):
    results = []
    for name, texts in texts_by_strategy.items():
        r = StrategyResult(strategy=name.replace("_", "-"), iterations=its(*texts))
        r.summary = summary_of(r.iterations)
        results.append(r)
    result = RunResult(run_id="r", plan={"decoding": "greedy"}, results=results)
    drift.compare_with_baseline(result)
    return result


def test_every_text_is_compared_with_fresh_process_first_text():
    result = run_of(restart=["a", "a"], recreate=["b", "b"], fresh_process=["a", "a"])
    got = {r.strategy: (r.summary.text_stable, r.summary.matches_baseline) for r in result.results}
    assert got == {"restart": (True, True), "recreate": (True, False), "fresh-process": (True, None)}
    assert drift.drifted_strategies(result) == ["recreate"]
    assert [drift.column(r.summary) for r in result.results] == ["stable", "differs from fresh-process", "stable"]
    assert drift.footer_lines(result) == [
        "recreate: text changed at iteration 1 (against fresh-process's iteration 1): [-a-]{+b+}"
    ]


def test_without_fresh_process_there_is_no_baseline():
    result = run_of(restart=["a", "a"])
    assert result.results[0].summary.matches_baseline is None


def test_footer_names_the_first_changed_iteration_with_a_diff():
    result = run_of(restart=["one two three", "one two three", "one twX three"])
    assert output.result_rows(result)[0][-1] == "changed at 3 (1 iters)"
    assert drift.footer_lines(result) == [
        "restart: text changed at iteration 3 (against its iteration 1): one tw[-o-]{+X+} three"
    ]


def test_short_diff_keeps_context_and_cuts_long_lines():
    a = "calibration stream one two three four five six seven eight nine ten"
    assert drift.short_diff(a, a.replace("five", "fiwe")) == "…hree four fi[-v-]{+w+}e six seven …"
    assert len(drift.short_diff("a" * 500, "b" * 500, width=40)) == 40


def test_old_summaries_read_with_drift_unknown_and_round_trip():
    s = Summary.from_json({"iters_ok": 3})
    assert (s.text_stable, s.first_changed_at, s.changed_iterations, s.edit_distance_mean, s.matches_baseline) == (
        None,
    ) * 5
    s = summary_of(its("a", "b"))
    assert Summary.from_json(json.loads(json.dumps(s.to_json()))) == s


# ---------------------------------------------------------------- decoding, per engine
def test_greedy_is_the_default_and_each_engine_is_told_its_way():
    assert RunPlan(strategies=["restart"]).decoding == "greedy"
    assert worker_config.decoding_options("chatllm", "greedy") == {
        "decoding": "greedy",
        "decoding_args": ["--sampling", "greedy"],
    }
    assert worker_config.decoding_options("chatllm", "sampled") == {"decoding": "sampled", "decoding_args": []}
    assert worker_config.decoding_options("calibration", "sampled") == {"decoding": "sampled"}


def test_a_bad_decoding_is_named_by_validate():
    problems = RunPlan(strategies=["restart"], decoding="beam").validate(label=lambda k: "--" + k)
    assert problems == ["--decoding must be one of greedy, sampled, not 'beam'"]


def test_chatllm_gets_greedy_before_the_users_own_arguments():
    params = chatllm.model_params(
        {"decoding_args": ["--sampling", "greedy"], "engine_args": ["--seed", "1"]}, "m.bin", False, None
    )
    assert params == ["-m", "m.bin", "--sampling", "greedy", "--seed", "1"]


# ---------------------------------------------------------------- the calibration engine
def test_sampled_text_is_reproducible_per_iteration_and_differs_between_them():
    text = TRANSCRIPT
    assert calibration.sampled_text(text, 3) == calibration.sampled_text(text, 3)
    assert len({calibration.sampled_text(text, i) for i in range(1, 11)}) == 10
    assert sorted(calibration.sampled_text(text, 3).split()) == sorted(text.split())


def test_drift_modes_change_the_text_or_exactly_one_character():
    text = TRANSCRIPT
    assert calibration.drifted_text(text, "text") == " ".join(reversed(text.split()))
    char = calibration.drifted_text(text, "char")
    assert drift.edit_distance(text, char) == 1 and len(char) == len(text)
    assert calibration.drifted_text("aba", "text") == "aba drift"  # never the same text


@pytest.mark.parametrize(
    "args, found",
    [
        (["--seed", "1"], None),
        (["--sampling", "top_p"], "--sampling"),
        (["-t", "0.7"], "-t"),
        (["--temp=0"], "--temp=0"),
    ],
)
def test_a_users_own_sampling_argument_is_found(args, found):
    assert decoding.overridden(args) == found
