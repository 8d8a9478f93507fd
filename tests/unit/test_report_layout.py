"""The HTML report's layout (issue 27 item 8): tables scroll instead of running off the page,
bar labels are rounded as the table rounds them, box-plot labels are cut and turned, and a
`--sweep` load page's x axis shows the levels' rates."""

from __future__ import annotations

import dataclasses

from orchestrator.history import load_plots, plots
from orchestrator.history.page import CSS
from orchestrator.history.page import html_table as _html_table
from tests.load_runs import load_run


def test_bar_labels_use_the_figures_format_never_exponent_notation():
    assert plots.bar_label("ttft_ms_median", 1471.26) == "1,471.3"
    assert plots.bar_label("rtf_median", 0.04567) == "0.046"
    assert plots.bar_label("ttft_ms_median", None) == "-"
    assert "e+" not in plots.bar_label("ttft_ms_median", 123456.0)


def test_long_box_plot_labels_are_cut():
    assert plots.short_label("transformers recreate-destroy") == "transformers recreate-d…"
    assert plots.short_label("restart") == "restart"
    assert len(plots.short_label("x" * 80)) == plots.BOX_LABEL_CHARS


def test_tables_scroll_sideways_inside_the_page():
    html = _html_table(["a", "b"], [[1, 2]])
    assert html.startswith('<div class="scroll"><table>') and html.endswith("</table></div>")
    assert ".scroll{overflow-x:auto" in CSS


def test_a_sweeps_levels_sit_at_their_rates():
    run = load_run()
    closed = dataclasses.replace(run.levels[0], level=0, arrivals="concurrency 1 (synchronous)", offered_rate=None,
                                 throughput_rps=3.5)
    sweep = dataclasses.replace(run, levels=[closed, *run.levels])
    xs, label = load_plots.level_x(sweep)
    assert xs == [3.5, 8.0, 32.0] and label.startswith("rate (requests/s")
    stuck = dataclasses.replace(closed, throughput_rps=0.0)  # finished nothing: named ticks on level numbers
    xs, label = load_plots.level_x(dataclasses.replace(run, levels=[stuck, *run.levels]))
    assert label == "level"
    assert load_plots._level_name(stuck) == "0: 1 in flight" and load_plots._level_name(run.levels[0]) == f"{run.levels[0].level}: 8/s"
    assert load_plots.latency_chart(sweep).startswith(b"\x89PNG")
