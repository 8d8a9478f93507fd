"""The decision at the end of a comparison (orchestrator.results.decision): pure functions of
a RunResult, so every case is a hand-made result."""

from __future__ import annotations

import json

from orchestrator.history.report import command_of, render_markdown
from orchestrator.results import decision
from orchestrator.results.model import IterationRecord, RunResult, Status, StrategyResult, Summary, Verdict


def row(name, ttft, latency, peak, status=Status.OK, verdict=Verdict.STABLE, ttfts=None, load=None, engine=None,
        text_stable=True):
    its = [IterationRecord(i=k + 1, ttft_ms=t, latency_ms=latency) for k, t in enumerate(ttfts or [ttft] * 8)]
    summary = Summary(iters_ok=len(its), ttft_ms_median=ttft, latency_ms_median=latency, rss_peak_mb=peak,
                      verdict=verdict, growth_mb_per_iter=0.5 if verdict is Verdict.GROWING else 0.0,
                      text_stable=text_stable)
    return StrategyResult(strategy=name, status=status, iterations=its, summary=summary, host_load=load,
                          engine=engine)


def result(*rows, cpus=2):
    return RunResult(run_id="r1", host={"cpus": cpus}, results=list(rows))


def test_unsafe_rows_say_why_and_are_never_chosen():
    d = decision.decide(result(
        row("restart", 40.0, 300.0, 500.0, verdict=Verdict.GROWING),  # fastest, but grows
        row("cli", 30.0, 200.0, 100.0, status=Status.CRASHED),  # faster still, but crashed
        row("recreate", 45.0, 250.0, 400.0, text_stable=False),  # drifted
        row("fresh-process", 60.0, 350.0, 300.0),
        row("recreate-destroy", 55.0, 400.0, 350.0),
    ))
    why = {r.row: r.why for r in d.rows}
    assert why["restart"] == ["growing +0.500 MB/iter"]
    assert why["cli"] == ["crashed"] and why["recreate"] == ["drifted"] and why["fresh-process"] == []
    chosen = {c.what: (c.row, c.value, c.runner_up) for c in d.choices}
    assert chosen == {
        "first text": ("recreate-destroy", 55.0, "fresh-process"),
        "whole requests": ("fresh-process", 350.0, "recreate-destroy"),
        "memory": ("fresh-process", 300.0, "recreate-destroy"),
    }


def test_no_safe_row_is_said():
    d = decision.decide(result(row("a", 1.0, 2.0, 3.0, status=Status.CRASHED), row("b", 1.0, 2.0, 3.0,
                                                                                  verdict=Verdict.GROWING)))
    assert all(c.row is None for c in d.choices)
    assert "  fastest safe for first text: none (no safe row has the figure)" in decision.lines(d)


def test_a_row_is_noisy_by_its_spread_or_the_hosts_load():
    steady = [100.0, 101.0, 99.0, 100.0, 100.5, 99.5, 100.0, 100.2]
    jumpy = [658.0, 1471.0, 700.0, 1400.0, 690.0, 1300.0, 720.0, 1450.0]  # issue 27: TTFT moved 658 -> 1471
    d = decision.decide(result(
        row("steady", 100.0, 300.0, 10.0, ttfts=steady, load=[0.5, 1.5]),
        row("jumpy", 700.0, 300.0, 10.0, ttfts=jumpy, load=[0.5, 1.0]),
        row("busy", 100.0, 300.0, 10.0, ttfts=steady, load=[1.0, 2.0 * decision.NOISY_LOAD_PER_CPU + 0.5]),
    ))
    noisy = {r.row: r.noisy for r in d.rows}
    assert noisy["steady"] == []
    assert len(noisy["jumpy"]) == 1 and noisy["jumpy"][0].startswith("TTFT spread")
    assert noisy["busy"] == ["host load 2.50 on 2 CPUs"]
    first = d.choices[0]
    assert first.row in ("steady", "busy") and (first.noisy is (first.row == "busy"))


def test_spread_is_iqr_over_median_and_needs_four_values():
    assert decision.spread([1.0, 2.0, 3.0]) is None
    assert decision.spread([10.0, 10.0, 10.0, 10.0]) == 0.0
    assert decision.spread([1.0, 2.0, 3.0, 4.0, 5.0]) == (4.0 - 2.0) / 3.0


def test_a_comparison_carries_its_decision_in_the_json_and_one_strategy_does_not():
    two = result(row("a", 1.0, 2.0, 3.0), row("b", 2.0, 3.0, 4.0))
    decision.attach(two)
    data = json.loads(json.dumps(two.to_json()))
    assert data["decision"]["choices"][0]["row"] == "a"
    assert data["decision"]["bounds"]["noisy_spread"] == decision.NOISY_SPREAD
    assert RunResult.from_json(data).decision == data["decision"]
    one = result(row("a", 1.0, 2.0, 3.0))
    decision.attach(one)
    assert "decision" not in one.to_json()


def test_the_page_title_names_the_command():
    engines = result(row("restart", 1.0, 2.0, 3.0, engine="calibration"), row("restart", 2.0, 3.0, 4.0,
                                                                                engine="onnx"))
    assert command_of(engines) == "orch compare --engines"
    assert command_of(result(row("a", 1.0, 2.0, 3.0), row("b", 1.0, 2.0, 3.0))) == "orch compare"
    assert command_of(result(row("a", 1.0, 2.0, 3.0))) == "orch run"
    assert render_markdown(engines).startswith("# orch compare --engines r1")


def test_the_html_page_has_the_decision_and_the_commands_title():
    from orchestrator.history.report import render_html

    page = render_html(result(row("a", 1.0, 2.0, 3.0), row("b", 2.0, 3.0, 4.0, status=Status.CRASHED)))
    assert "<title>orch compare r1</title>" in page
    assert "<h2>Decision</h2>" in page and "fastest safe for first text: a" in page
    assert "not safe: crashed" in page


def test_the_bandwidth_probe_reports_its_own_spread_and_a_wide_one_is_noisy():
    from orchestrator.results.model import HostLimits
    from orchestrator.results.runtime_table import host_limits_line
    from orchestrator.run.host_limits import median_and_spread

    runs = [17.6, 38.3, 31.9, 18.0, 36.0]  # issue 27: three runs read 17.6, 38.3 and 31.9 GB/s
    figures = median_and_spread("bandwidth", runs, "gb_s")
    assert figures["bandwidth_median_gb_s"] == 31.9 and figures["bandwidth_spread"] > decision.NOISY_PROBE_SPREAD
    limits = HostLimits(threads=2, bandwidth_gb_s=38.3, copy_mb=512, matmul_gflops=50.0, matmul_n=2048, repeats=5,
                        **figures)
    assert "median 31.9, spread" in host_limits_line(limits)
    r = result(row("a", 1.0, 2.0, 3.0, engine="calibration"), row("b", 1.0, 2.0, 3.0, engine="onnx"))
    r.host["limits"] = limits.to_json()
    d = decision.decide(r)
    assert d.probe_noisy and d.probe_noisy.startswith("the host bandwidth probe's copies spread")
    assert decision.lines(d)[-1].startswith("  noisy: the host bandwidth probe")


def test_a_jumpy_tokens_per_second_makes_a_row_noisy():
    r = row("fresh-process", 50.0, 300.0, 10.0, load=[0.2, 0.3])
    for it, tps in zip(r.iterations, [241.0, 39.0, 230.0, 45.0, 240.0, 40.0, 235.0, 42.0], strict=True):
        it.tokens_per_s = tps  # issue 27: fresh-process tok/s 241 -> 39 between runs
    (d,) = decision.decide(result(r)).rows
    assert d.noisy[0].startswith("tok/s spread") and d.spreads["tokens_per_s"] > decision.NOISY_SPREAD
    assert d.spreads["ttft_ms"] == 0.0
