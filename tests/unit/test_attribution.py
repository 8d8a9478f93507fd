"""orchestrator.studies.attribution without a tracer: the iteration windows, naming a stack past
the allocator plumbing, and the result block's JSON round trip (written only when present)."""

from __future__ import annotations

from orchestrator.results.model import AttributedStack, Attribution, StrategyResult
from orchestrator.results.stacks import attribution_text, stack_name
from orchestrator.studies import attribution


def test_iteration_windows_skip_warmup_and_the_last_iteration():
    marks = [(i, name, 10.0 * i + k) for i in range(1, 7) for k, name in enumerate(("before_load", "after_unload"))]
    starts = attribution.iteration_starts(marks)
    assert starts == {i: 10.0 * i for i in range(1, 7)}
    assert attribution.counted_iterations(starts, warmup=2) == [3, 4, 5]
    assert attribution.counted_iterations({1: 0.0}, warmup=0) == [1]


def test_a_stack_is_named_after_the_first_frame_that_is_not_plumbing():
    frames = [
        ("<unknown>", "<unknown>", 0),
        ("malloc", "<unknown>", 0),
        ("ffi_call", "<unknown>", 0),
        ("native_alloc", "calibration.py", 58),
        ("generate", "calibration.py", 170),
    ]
    assert stack_name(frames) == "native_alloc calibration.py:58"
    assert stack_name([("ggml_aligned_malloc", "<unknown>", 0)]) == "ggml_aligned_malloc"


def test_the_attribution_block_round_trips_and_is_written_only_when_present():
    bare = StrategyResult(strategy="recreate")
    assert "attribution" not in bare.to_json()
    att = Attribution(
        tracer="memray",
        iterations=[3, 4],
        measured_growth_mb_per_iter=8.0,
        attributed_mb_per_iter=8.0,
        explained_fraction=1.0,
        weighting="resident",
        stacks=[AttributedStack("native_alloc x.py:1", 8.0, 2, ["native_alloc x.py:1", "generate x.py:9"])],
        notes=["n"],
    )
    entry = StrategyResult(strategy="recreate", attribution=att)
    back = StrategyResult.from_json(entry.to_json())
    assert back.attribution == att
    assert back.to_json() == entry.to_json()


def test_render_names_the_error_and_the_top_stacks():
    assert "not available: no memray" in attribution_text(Attribution(tracer="memray", error="no memray"), "r")
    att = Attribution(
        tracer="memray",
        iterations=[3],
        measured_growth_mb_per_iter=2.0,
        attributed_mb_per_iter=2.0,
        unattributed_mb_per_iter=0.0,
        explained_fraction=1.0,
        stacks=[AttributedStack("native_alloc x.py:1", 2.0, 1, ["malloc", "native_alloc x.py:1"])],
    )
    text = attribution_text(att, "recreate")
    assert "native_alloc x.py:1" in text and "(100%)" in text


def test_the_html_report_has_a_table_of_the_stacks():
    from orchestrator.history.report import _attribution_section
    from orchestrator.results.model import RunResult

    att = Attribution(
        tracer="memray",
        iterations=[3, 4],
        measured_growth_mb_per_iter=2.0,
        attributed_mb_per_iter=2.0,
        unattributed_mb_per_iter=0.0,
        explained_fraction=1.0,
        weighting="resident",
        stacks=[
            AttributedStack("native_alloc x.py:1", 2.0, 2, ["malloc", "native_alloc x.py:1", "generate x.py:9"], 2.0)
        ],
    )
    html = _attribution_section(RunResult(run_id="r", results=[StrategyResult(strategy="recreate", attribution=att)]))
    assert "<h2>Attribution</h2>" in html and "native_alloc ← generate" in html and "(100%)" in html
    assert _attribution_section(RunResult(run_id="r", results=[StrategyResult(strategy="recreate")])) == ""
