"""The HTML report's charts and blocks (issue 18 item 14), checked on the drawn matplotlib
figures and the page's HTML: whole-number iteration ticks; nothing drawn where nothing was
measured (a command-line engine's marks while no program runs); the engine info once; the
plan without empty entries; a memory-limit run that finished no iteration drawn from its
samples, with the limit; 5,000 iterations without a wall of iteration-start lines."""

import math
import re

import pytest
from orchestrator.history import plots, report
from orchestrator.results.model import IterationRecord, PhaseMark, RunResult, Status, StrategyResult, Summary
from orchestrator.run.record_builder import RecordBuilder
from orchestrator.run.sampler import Sample
from orchestrator.run.strategies import Memory


def entry(strategy="restart", n=3, status=Status.OK, samples=None, engine_info=None, **phases) -> StrategyResult:
    its = [IterationRecord(i=i, warmup=i <= 1, rss_mb=30.0 + i, uss_mb=20.0 + i,
                           phases={"after_infer": PhaseMark(rss_mb=30.0 + i), **phases}) for i in range(1, n + 1)]
    return StrategyResult(strategy=strategy, status=status, iterations=its, samples=samples or [],
                          engine_info=engine_info, summary=Summary(growth_mb_per_iter=1.0, growth_ci95=[0.9, 1.1]))


def test_iteration_ticks_are_whole_numbers():
    # a crashed run's 3 iterations were ticked 0.5, 1.0, 1.5, ... 3.0
    for n in (2, 3, 7, 5000):
        ax = plots._memory_figure(entry(n=n)).axes[0]
        ticks = list(ax.get_xticks())
        assert ticks and all(float(t).is_integer() for t in ticks), (n, ticks)


def sample(procs: int, rss=40.0, self_rss=30.0, uss=35.0, self_uss=27.0) -> Sample:
    return Sample(t=1.0, rss_mb=rss, uss_mb=uss, pss_mb=None, self_rss_mb=self_rss, self_uss_mb=self_uss,
                  cpu_user_s=None, cpu_system_s=None, procs=procs)


@pytest.mark.parametrize("memory", [Memory.KERNEL_MAXRSS, Memory.TREE_MINUS_WORKER])
def test_an_engine_program_not_running_is_no_measurement_not_0_mb(memory):
    builder = RecordBuilder(memory, warmup=0, audio_s=None)
    # the worker alone in its tree (cli before its program starts, after it exits): was 0.0 MB
    assert builder.mem(sample(procs=1, rss=30.0, uss=27.0)) == (None, None)
    assert builder.phase_mark(sample(procs=1, rss=30.0, uss=27.0)).rss_mb is None
    assert builder.mem(sample(procs=2)) == (10.0, 8.0)  # the program: the tree minus the worker
    assert RecordBuilder(Memory.TREE, 0, None).mem(sample(procs=1)) == (40.0, 35.0)


def test_marks_and_samples_without_a_measurement_are_not_drawn():
    cli = entry("cli", before_infer=PhaseMark(rss_mb=None, procs=1))
    cli.samples = [[0.1, None, None, None], [0.2, 12.0, None, 1], [0.3, 14.0, None, 1], [0.4, None, None, 1],
                   [0.5, 9.0, None, 2], [0.6, None, None, 2]]
    fig = plots._memory_figure(cli)
    left, right = fig.axes[0], fig.axes[1]
    assert "before_infer" not in [line.get_label() for line in left.get_lines()]
    assert all(min(line.get_ydata(), default=1) != 0 for line in left.get_lines())
    rss = next(line for line in right.get_lines() if line.get_label() == "RSS")
    drawn = [None if math.isnan(y) else y for y in rss.get_ydata()]
    assert drawn == [None, 12.0, 14.0, None, 9.0, None]  # gaps, never 0 MB
    assert "USS" not in [line.get_label() for line in right.get_lines()]  # no USS was measured
    # a measured point between two gaps cannot show as a line: it gets a marker
    lonely = [line for line in right.get_lines() if line.get_marker() == "." and line.get_label().startswith("_")]
    assert [list(line.get_xdata()) for line in lonely] == [[0.5]]


def test_memory_limit_before_any_iteration_draws_the_samples_and_the_limit():
    stopped = StrategyResult(strategy="restart", status=Status.MEMORY_LIMIT,
                             samples=[[0.1, 12.0, None, None], [0.2, 16.0, 10.0, None], [0.3, 150.0, None, None],
                                      [0.4, 210.0, None, None]])
    fig = plots._memory_figure(stopped, limit_mb=200.0)
    assert len(fig.axes) == 1  # no empty "memory per iteration" frame beside it
    ax = fig.axes[0]
    assert "no iteration finished" in ax.get_title()
    by = {line.get_label(): line for line in ax.get_lines()}
    assert list(by["RSS"].get_ydata()) == [12.0, 16.0, 150.0, 210.0]
    assert list(by["USS"].get_xdata()) == [0.2] and by["USS"].get_marker() == "."  # one reading: a dot
    assert list(by["memory limit 200 MB (PSS + swap)"].get_ydata()) == [200.0, 200.0]
    page = report.render_html(RunResult(run_id="r", engine={"name": "calibration"}, results=[stopped],
                                        plan={"max_rss_mb": 200.0, "iters": 5, "warmup": 1}))
    assert page.count('id="mem-restart"') == 1


def test_thousands_of_iterations_mark_every_kth_start_under_the_data():
    samples = [[k * 0.01, 30.0, None, k // 2 + 1] for k in range(10_000)]  # 5,000 iterations
    lines = plots.sample_lines(samples)
    assert lines.every == 200 and len(lines.starts) == 25
    assert [i for i, _ in lines.starts][:3] == [200, 400, 600]
    assert plots.sample_lines(samples[:60]).every == 1  # 30 iterations: each one
    assert plots._nice_step(31, 30) == 2 and plots._nice_step(301, 30) == 20 and plots._nice_step(30, 30) == 1
    big = entry(n=5000, samples=samples)
    ax = plots._memory_figure(big).axes[1]
    starts = [line for line in ax.get_lines() if line.get_color() == "#999"]
    assert len(starts) == 25  # was 5,000: a solid grey block over the data
    rss = next(line for line in ax.get_lines() if line.get_label() == "RSS")
    assert all(line.get_zorder() < rss.get_zorder() for line in starts)
    assert "every 200th" in starts[0].get_label()


def page_of(results, plan) -> str:
    return report.render_html(RunResult(run_id="r", engine={"name": "calibration", "ttft_ms": 5.0},
                                        results=results, plan=plan))


def test_engine_info_is_shown_once_with_what_differs():
    info = {"name": "calibration", "options": {"ttft_ms": 5.0, "model_mb": 16.0, "destroy_on_unload": False}}
    destroy = {"name": "calibration", "options": {**info["options"], "destroy_on_unload": True}}
    page = page_of([entry("restart", engine_info=info), entry("recreate", engine_info=info),
                    entry("recreate-destroy", engine_info=destroy), entry("cli")], {"iters": 3, "warmup": 1})
    assert "engine info</h3>" not in page  # was a block per strategy
    assert page.count("<h3>Engine info</h3>") == 1
    assert page.count("<td>options.ttft_ms</td>") == 1 and page.count("<td>options.model_mb</td>") == 1
    differ = page.split("where the strategies differ", 1)[1].split("</table>", 1)[0]
    assert re.findall(r"<td[^>]*>([^<]*)</td>", differ) == [
        "restart", "False", "recreate", "False", "recreate-destroy", "True"]
    assert "no engine info from cli" in page


def test_plan_leaves_out_what_was_not_given_and_the_header_says_what_was():
    plan = {"strategies": ["restart"], "iters": 3, "warmup": 1, "scenario": "asr", "models": [], "audio": None,
            "audio_s": None, "reference": None, "transcript": None, "language": None, "idle_s": 0.0}
    page = page_of([entry()], plan)
    table = page.split("<h2>Plan</h2>", 1)[1]
    keys = re.findall(r"<tr><td>([^<]*)</td>", table)
    assert keys == ["strategies", "iters", "warmup", "scenario", "idle_s"]
    header = page.split("<h2>Comparison</h2>", 1)[0]
    assert "models" not in header and "audio" not in header
    used = page_of([entry()], {**plan, "models": ["a.bin"], "audio": "clip.wav", "audio_s": 4.93,
                               "reference": "clip.txt"})
    header = used.split("<h2>Comparison</h2>", 1)[0]
    assert "models a.bin" in header and "audio clip.wav (4.9 s)" in header
    assert "<td>reference</td><td>clip.txt</td>" in used
