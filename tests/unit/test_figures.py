"""The figure declarations (results.figures) and the outputs that read them."""

from __future__ import annotations

import dataclasses

from orchestrator.history import changepoints, prometheus, store
from orchestrator.results import ab_table, figures, output
from orchestrator.results.load_run import LoadLevel
from orchestrator.results.model import ResourceFit, RunResult, StrategyResult, Summary


def test_every_figure_comes_from_where_it_says():
    summary_fields = {f.name for f in dataclasses.fields(Summary)}
    for f in figures.of_kind("run"):
        assert f.name in summary_fields or f.ab, f.name  # ab's ttft_ms/tokens_per_s: per iteration
    for f in figures.of_kind("load"):
        assert hasattr(LoadLevel, f.name) or f.name in {x.name for x in dataclasses.fields(LoadLevel)}, f.name


def test_names_gauges_and_columns_are_unique():
    gauges = [g for f in figures.FIGURES for g in (f.prometheus, f.ci_gauge) if g]
    assert len(gauges) == len(set(gauges))
    columns = [c.name for c in store.declared_columns("run")]
    assert len(columns) == len(set(columns))


def test_the_outputs_read_the_declarations():
    assert figures.get("growth_mb_per_iter").label in output.HEADERS
    assert figures.get("core_h_per_audio_h").label in output.HEADERS
    for f in figures.exported("run") + figures.exported("load"):
        assert f.prometheus in prometheus.HELP
    for f in figures.change_metrics():
        assert changepoints.METRICS[f.column_name] == (f.label, f.nd)
        assert f.column_name in store.run_strategies.c
    assert set(ab_table.LABELS) == {f.name for f in figures.ab_figures()} >= {"threads", "fds", "maps"}


def test_a_resource_figure_reaches_the_table_prometheus_and_the_history_row():
    fit = ResourceFit(start=4, end=13, growth_per_iter=1.0, ci95=[0.9, 1.1], verdict="growing", limit=100, iters_to_limit=87)
    entry = StrategyResult("restart", summary=Summary(iters_ok=10, resources={"threads": fit}))
    result = RunResult("r1", results=[entry])
    rows = output.resource_rows(result)
    assert rows == [["restart", "threads", 4, 13, 1.0, "[0.900, 1.100]", "growing", 100, 87]]
    assert output.growing_resources(entry) == ["threads +1.0 per iteration"]
    assert output.resource_lines(result) == ["restart: resources growing: threads +1.0 per iteration"]
    row = store.declared_values(entry.summary)
    assert (row["threads_per_iter"], row["threads_ci_high"], row["threads_verdict"]) == (1.0, 1.1, "growing")
    stable = StrategyResult("restart", summary=Summary(resources={"fds": ResourceFit(growth_per_iter=0.0, verdict="stable")}))
    assert output.resource_table(RunResult("r2", results=[stable])) is None  # only what moved
    assert output.resource_rows(RunResult("r2", results=[stable]))[0][1] == "fds"


def _threads_growing(verdict: str = "growing") -> RunResult:
    fit = ResourceFit(start=4, end=13, growth_per_iter=1.0, ci95=[1.0, 1.0], verdict=verdict)
    return RunResult("r", results=[StrategyResult("restart", summary=Summary(resources={"threads": fit}))])


def test_a_newly_growing_resource_is_a_soak_regression_and_a_gauge():
    from orchestrator.history import baseline
    from orchestrator.history.soak_cell import CellRun

    found, _notes = baseline.compare(_threads_growing(), [_threads_growing("stable")])
    assert [(r.kind, r.other["resource"]) for r in found] == [("resource", "threads")]
    assert "new `growing` resource: threads +1.000 per iteration" in found[0].message
    assert baseline.compare(_threads_growing(), [_threads_growing()])[0] == []  # grew before too
    text = prometheus.render([CellRun("s", "k", result=_threads_growing())])
    assert 'orch_soak_threads_per_iter{soak="s",key="k",strategy="restart",model=""} 1.0' in text
    assert 'orch_soak_threads_per_iter_ci95_high{soak="s",key="k",strategy="restart",model=""} 1.0' in text
    assert 'resource="threads",verdict="growing"} 1' in text


def test_every_declared_resource_is_read_and_every_reading_is_declared():
    from orchestrator.run import procfs

    assert [f.name for f in figures.resources()] == list(procfs.RESOURCE_KEYS)


def test_only_threads_fds_and_maps_growing_fail_the_run():
    grows = ResourceFit(growth_per_iter=2.0, ci95=[2.0, 2.0], verdict="growing")
    memory_like = StrategyResult("restart", summary=Summary(resources={"vm_size_mb": grows, "vm_hwm_mb": grows}))
    assert output.growing_resources(memory_like) == [
        "vm_size_mb +2.0 MB per iteration",
        "vm_hwm_mb +2.0 MB per iteration",
    ]
    assert output.growing_resources(memory_like, failing=True) == []
    threads = StrategyResult("r", summary=Summary(resources={"threads": dataclasses.replace(grows, n=3)}))
    assert output.growing_resources(threads) and not output.growing_resources(threads, failing=True)  # too short
    threads.summary.resources["threads"].n = 5
    assert output.growing_resources(threads, failing=True) == ["threads +2.0 per iteration"]
    assert [f.name for f in figures.resources() if f.fails] == ["threads", "fds", "maps"]
