import numpy as np
import pytest
from orchestrator.results import analysis, metrics
from orchestrator.results.model import IterationRecord
from orchestrator.run.plan import Thresholds

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
