import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from orchestrator.results import analysis, metrics
from orchestrator.results.model import IterationRecord, Thresholds, Verdict

TH = Thresholds()


def recs(dicts):
    return [IterationRecord.from_json(d) for d in dicts]


def series(ys):
    return [float(i) for i in range(1, len(ys) + 1)], [float(y) for y in ys]


def test_linear_growth_is_growing_with_ci_around_slope():
    rng = np.random.default_rng(1)
    xs, ys = series(100 + 0.5 * np.arange(40) + rng.normal(0, 0.05, 40))
    v = analysis.verdict(xs, ys, TH)
    assert v["verdict"] == "growing"
    assert v["growth_ci95"][0] < 0.5 < v["growth_ci95"][1]
    assert abs(v["growth_mb_per_iter"] - 0.5) < 0.02


def test_flat_noise_is_stable_and_ci_contains_zero():
    rng = np.random.default_rng(2)
    xs, ys = series(200 + rng.normal(0, 0.3, 50))
    v = analysis.verdict(xs, ys, TH)
    assert v["verdict"] == "stable"
    assert v["growth_ci95"][0] <= 0 <= v["growth_ci95"][1]


def test_small_significant_slope_under_threshold_is_stable():
    xs, ys = series(50 + 0.01 * np.arange(30))
    assert analysis.verdict(xs, ys, TH)["verdict"] == "stable"


def test_growth_then_flat_is_plateau_from_the_knee():
    ys = list(100 + 2.0 * np.arange(15)) + [128.0] * 25
    xs, ys = series(ys)
    v = analysis.verdict(xs, ys, TH)
    assert v["verdict"] == "plateau"
    assert 13 <= v["plateau_from"] <= 17


def test_falling_memory_is_shrinking_never_growing():
    # issue 18: x = 3..10, y = 40, 39, ..., 33 was `growing` (abs(slope) compared)
    v = analysis.verdict([float(x) for x in range(3, 11)], [float(y) for y in range(40, 32, -1)], TH)
    assert v == {"growth_mb_per_iter": -1.0, "growth_ci95": [-1.0, -1.0], "plateau_from": None, "verdict": "shrinking"}


def test_falling_within_the_threshold_is_stable():
    # -0.05 MB/iter with a CI wholly below 0: falls, but less than the 0.1 threshold
    xs, ys = series([10.0 - 0.05 * k for k in range(8)])
    v = analysis.verdict(xs, ys, TH)
    assert v["verdict"] == "stable"
    assert v["growth_ci95"][1] < 0


def test_the_real_falling_run_of_the_issue_is_shrinking():
    # `orch run --strategy cli ...` gave -0.111 [-0.172, -0.051] `growing`: a slope past the
    # threshold downwards with the whole CI below 0
    xs, ys = series([80.0, 79.9, 79.75, 79.7, 79.55, 79.45, 79.35, 79.2])
    v = analysis.verdict(xs, ys, TH)
    assert v["growth_ci95"][1] < 0 and v["growth_mb_per_iter"] <= -0.1
    assert v["verdict"] == "shrinking"


def test_a_summary_of_falling_memory_says_shrinking():
    its = [{"i": i, "warmup": i <= 2, "ttft_ms": 10.0, "rss_mb": 100.0 - i, "text": "x"} for i in range(1, 11)]
    s = analysis.summarize(recs(its), TH)
    assert s.verdict is Verdict.SHRINKING and s.growth_mb_per_iter == -1.0


@settings(max_examples=300, deadline=None)
@given(
    slope=st.floats(-20.0, 20.0),
    noise=st.lists(st.floats(-5.0, 5.0), min_size=3, max_size=40),
    threshold=st.floats(0.01, 5.0),
)
def test_a_series_whose_ci_lies_below_zero_is_never_growing(slope, noise, threshold):
    xs = [float(k) for k in range(1, len(noise) + 1)]
    ys = [500.0 + slope * x + e for x, e in zip(xs, noise, strict=True)]
    th = Thresholds(growth_mb_per_iter=threshold)
    v = analysis.verdict(xs, ys, th)
    lo, hi = v["growth_ci95"]
    if hi < 0:
        assert v["verdict"] != "growing"
        assert v["verdict"] in ("stable", "shrinking", "plateau")
    if lo > 0:
        assert v["verdict"] != "shrinking"
    if v["verdict"] == "shrinking":  # only ever a CI wholly below 0, past the threshold
        assert hi < 0 and v["growth_mb_per_iter"] <= -threshold
    if v["verdict"] == "growing":
        assert lo > 0 and v["growth_mb_per_iter"] >= threshold


def test_too_few_points_gives_no_verdict():
    assert analysis.verdict([1.0, 2.0], [1.0, 5.0], TH)["verdict"] is None


def test_summary_leaves_warmup_out():
    its = [
        {
            "i": i,
            "warmup": i <= 2,
            "ttft_ms": 1000.0 if i <= 2 else 10.0,
            "rss_mb": 50.0 + (30 if i <= 2 else 0),
            "text": "x",
        }
        for i in range(1, 11)
    ]
    s = analysis.summarize(recs(its), TH)
    assert s.ttft_ms_median == 10.0
    assert s.verdict == "stable"
    assert s.iters_ok == 10 and s.iters_measured == 8


def test_mean_ci():
    m, lo, hi = analysis.mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and lo < 2.0 < hi


def test_timing_from_stamps():
    done = {"t_request": 10.0, "t_end": 10.5}
    chunks = [(" a", 10.05), (" b", 10.06), (" c", 10.08), ("\n", 10.0801)]
    t = metrics.timing(done["t_request"], done["t_end"], chunks, audio_s=5.0)
    assert t["ttft_ms"] == pytest.approx(50.0)
    assert t["tokens"] == 3  # the newline is not a token
    assert t["itl_ms_p50"] == pytest.approx(15.0)
    assert t["tokens_per_s"] == pytest.approx(2 / 0.03)
    assert t["latency_ms"] == pytest.approx(500.0)
    assert t["rtf"] == pytest.approx(0.1)
    assert t["streamed"] is True


def test_burst_is_flagged():
    done = {"t_request": 0.0, "t_end": 1.0}
    chunks = [(f" w{k}", 0.9 + k * 1e-6) for k in range(50)]
    assert metrics.timing(done["t_request"], done["t_end"], chunks, None)["streamed"] is False


def test_an_engine_that_does_not_stream_gets_ttft_equal_to_latency():
    # one chunk at the end (sherpa-onnx, CrispASR's Python session): no TTFT, tok/s or ITL invented
    t = metrics.timing(2.0, 2.75, [("the whole text", 2.7499)], audio_s=3.0, engine_streamed=False)
    assert t["streamed"] is False
    assert t["ttft_ms"] == pytest.approx(750.0)
    assert t["latency_ms"] == pytest.approx(750.0)
    assert t["tokens_per_s"] is None and t["itl_ms_p50"] is None and t["stream_spread_ms"] is None
    assert t["tokens"] == 1
    assert t["rtf"] == pytest.approx(0.25)


def test_teardown_notes_are_condensed_per_finding():
    from orchestrator.results.output import condense_notes

    abort = "worker killed by SIGABRT at exit, after finishing its work"
    notes = [f"fresh-process#{i}: {abort}" for i in (1, 2, 5)] + ["restart#1: hung at exit", "plain note"]
    assert condense_notes(notes) == [
        f"{abort} (3 workers: fresh-process#1 ... fresh-process#5)",
        "restart#1: hung at exit",
        "plain note",
    ]


def test_switch_memory_series_never_mixes_models():
    """Seen on chatllm.cpp: model B once answered nothing (no TTFT); its memory was still
    measured. A series that let A's record (20 MB less) stand in for it called a flat run a
    plateau."""
    rng = np.random.default_rng(7)
    its = []
    for i in range(1, 21):
        its.append(
            {"i": i, "model": "a", "rss_mb": 81.6 + rng.normal(0, 0.05), "ttft_ms": 80.0, "text": "x", "warmup": i <= 2}
        )
        b = {
            "i": i,
            "model": "b",
            "rss_mb": 104.0 + rng.normal(0, 0.05),
            "ttft_ms": 90.0,
            "text": "y",
            "warmup": i <= 2,
        }
        if i in (5, 18):  # where it happened in the run
            b.update(ttft_ms=None, text="")  # an empty answer: a finished request all the same
        its.append(b)
    s = analysis.summarize(recs(its), TH)
    assert s.verdict == "stable" and s.iters_ok == 20 and s.growth_ci95[0] <= 0
    assert 103.5 < s.rss_start_mb < 104.5 and 103.5 < s.rss_end_mb < 104.5
    # B missing altogether at one iteration (say it was the one that crashed): a gap, not A
    s = analysis.summarize(recs([it for it in its if not (it["i"] == 12 and it["model"] == "b")]), TH)
    assert s.verdict == "stable"


def test_ttft_phase_medians_over_measured_iterations():
    its = [
        {
            "i": i,
            "warmup": i == 1,
            "rss_mb": 10.0,
            "ttft_ms": 100.0,
            "ttft_phases": {"decode_ms": float(i), "prefill_ms": 10.0 * i},
        }
        for i in range(1, 6)
    ]
    its.append({"i": 6, "rss_mb": 10.0, "ttft_ms": 100.0})  # an engine that gave no breakdown here
    s = analysis.summarize(recs(its), TH)
    assert s.ttft_phases_median == {"decode_ms": 3.5, "prefill_ms": 35.0}
    assert analysis.summarize(recs([{"i": 1, "rss_mb": 1.0}]), TH).ttft_phases_median is None
