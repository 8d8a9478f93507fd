"""`orch report` and `orch history`: HTML with embedded charts (also for crashed runs),
Markdown/CSV tables, listing and showing stored runs; the page in headless Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.commands import history as commands
from orchestrator.history import plots, report, store, tables
from orchestrator.results.model import (
    IterationRecord,
    PhaseMark,
    RunResult,
    Status,
    StrategyResult,
    Summary,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def typed(name: str) -> RunResult:
    return RunResult.from_json(fixture(name))


def zero_iterations() -> RunResult:
    """Every strategy crashed before its first iteration finished."""
    out = typed("run_crashed.json")
    out.run_id = "zero-iters"
    for r in out.results:
        r.iterations, r.summary, r.samples = [], None, []
    return out


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [lambda: typed("run_growing.json"), lambda: typed("run_crashed.json"), zero_iterations],
    ids=["growing", "crashed-3-iters", "zero-iters"],
)
def test_html_is_self_contained_with_charts(make):
    result = make()
    page = report.render_html(result)
    images = _pngs(page)
    # one memory chart per strategy, one timing chart
    assert len(images) == len(result.results) + 1
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") and len(img) > 2000 for img in images)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert [m for m in re.findall(r'id="mem-([^"]+)"', page)] == [r.strategy for r in result.results]
    assert result.host["hostname"] in page


@pytest.mark.slow
def test_html_names_crashes_and_verdicts():
    page = report.render_html(typed("run_crashed.json"))
    assert "worker killed by SIGSEGV during iteration 4" in page
    assert page.count('class="bad">crashed<') == 2
    grow = report.render_html(typed("run_growing.json"))
    assert grow.count('class="bad">growing<') == 1
    assert grow.count('class="bad">') == 1


def test_markdown_and_csv_tables():
    result = typed("run_growing.json")
    md = report.render_markdown(result)
    assert md.startswith(
        f"# orch compare {result.run_id}\n\nengine `calibration`, scenario `asr`, started {result.started_at}\n\n"
    )
    assert "| recreate " in md and "growing" in md
    csv_text = report.render_csv(result)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("strategy,status,iters")
    assert [line.split(",")[:2] for line in lines[1:]] == [
        ["restart", "ok"],
        ["recreate", "ok"],
        ["fresh-process", "ok"],
    ]
    assert report.render_csv(zero_iterations()).count("crashed") == 2


@pytest.mark.slow
def test_a_soak_run_shows_its_soak_block():
    """The typed soak block (RunResult.soak, read from an orch.run/1 row too)."""
    old = dict(fixture("run_growing.json"), soak={"matrix_key": "k/x", "outcome": "ok"})
    page = report.render_html(RunResult.from_json(old))
    assert 'matrix key <code>k/x</code>, outcome <span class="ok">ok</span>' in page
    assert "baseline: none (first run of this key)" in page
    assert "<h2>Soak</h2>" not in report.render_html(typed("run_growing.json"))


def test_a_json_file_that_is_no_orch_result_is_one_line(tmp_path):
    from orchestrator.cli import main  # where errors become exit codes

    path = tmp_path / "run.json"
    path.write_text('{"run_id": "x", "results": []}', encoding="utf-8")
    out = CliRunner().invoke(main, ["report", str(path), "--format", "csv"])
    assert out.exit_code == 2
    assert out.output == (
        f"orch: run file {path} is not an orch result: unknown result schema None: "
        "this orch reads orch.run/1, orch.run/2\n"
    )
    path.write_text('{"schema": "orch.run/2", "run_id": "x", "results": 5}', encoding="utf-8")
    out = CliRunner().invoke(main, ["report", str(path)])
    assert out.exit_code == 2 and out.output.startswith(f"orch: run file {path} is not an orch result: ")


def test_tables_never_print_minus_zero():
    """Rounded through output.rounded: a slope of -0.0001 MB/iter is 0.0, not -0.0."""
    result = RunResult(
        run_id="r0",
        engine={"name": "calibration"},
        plan={"scenario": "asr"},
        results=[
            StrategyResult(
                strategy="restart",
                summary=Summary(
                    iters_ok=5,
                    ttft_ms_median=-0.04,
                    itl_ms_median=-0.001,
                    tokens_per_s_median=12.25,
                    load_ms_median=-0.01,
                    rss_start_mb=100.0,
                    rss_end_mb=100.0,
                    rss_peak_mb=100.04,
                    growth_mb_per_iter=-0.0001,
                    growth_ci95=[-0.0104, 0.0102],
                    verdict="stable",
                ),
            )
        ],
    )
    _, rows = report.table_rows(result)
    assert rows == [
        ["restart", "ok", 5, 0.0, 0.0, 12.2, None, 0.0, 100.0, 100.0, 100.0, 0.0, "[-0.010, 0.010]", "stable", None, None]
    ]
    assert (
        report.render_csv(result).splitlines()[1]
        == 'restart,ok,5,0.0,0.0,12.2,,0.0,100.0,100.0,100.0,0.0,"[-0.010, 0.010]",stable,,'
    )
    assert "-0.0 " not in report.render_markdown(result) and "-0 " not in report.render_markdown(result)


def _switch(missing_b_at: int | None = 6) -> StrategyResult:
    """Scenario switch, models a (RSS 80 MB) and b (104 MB) each iteration, 2 warm-up."""
    its = []
    for i in range(1, 9):
        for model, rss, uss in (("a", 80.0, 60.0), ("b", 104.0, 90.0)):
            if model == "b" and i == missing_b_at:
                continue
            its.append(
                IterationRecord(
                    i=i,
                    model=model,
                    warmup=i <= 2,
                    rss_mb=rss,
                    uss_mb=uss,
                    phases={
                        "before_load": PhaseMark(rss_mb=rss - 30),
                        "after_load": PhaseMark(rss_mb=rss - 2),
                        "before_infer": PhaseMark(rss_mb=rss - 1),
                        "after_infer": PhaseMark(rss_mb=rss),
                        "after_unload": PhaseMark(rss_mb=rss - 25),
                    },
                )
            )
    return StrategyResult(strategy="recreate", scenario="switch", status=Status.OK, iterations=its)


def test_memory_series_never_draws_another_models_record():
    """b's record at i=6 is missing: no point there (the old chart drew a's 80 MB, a 24 MB
    dip that is only the models' difference); warm-up points kept, flagged."""
    series = plots._memory_series(_switch())
    assert [tuple(p) for p in series] == [
        (1, 104.0, 90.0, True),
        (2, 104.0, 90.0, True),
        (3, 104.0, 90.0, False),
        (4, 104.0, 90.0, False),
        (5, 104.0, 90.0, False),
        (7, 104.0, 90.0, False),
        (8, 104.0, 90.0, False),
    ]
    # the line the chart draws is that series, and every phase mark has its legend entry
    ax = plots._memory_figure(_switch()).axes[0]
    rss = next(line for line in ax.get_lines() if line.get_label() == "RSS (after infer)")
    assert list(rss.get_xdata()) == [1, 2, 3, 4, 5, 7, 8]
    assert list(rss.get_ydata()) == [104.0] * 7
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "warm-up",
        "RSS (after infer)",
        "USS",
        "before_load",
        "after_load",
        "before_infer",
        "after_unload",
    ]


def test_memory_series_of_one_model_is_every_iteration():
    entry = StrategyResult(
        strategy="restart",
        iterations=[
            IterationRecord(i=i, warmup=i == 1, rss_mb=50.0 + i, uss_mb=None if i == 3 else 40.0 + i)
            for i in (1, 2, 3, 4)
        ],
    )
    assert [tuple(p) for p in plots._memory_series(entry)] == [
        (1, 51.0, 41.0, True),
        (2, 52.0, 42.0, False),
        (3, 53.0, None, False),
        (4, 54.0, 44.0, False),
    ]


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = str(tmp_path / "h.sqlite3")
    monkeypatch.setenv("ORCH_DB", path)
    older = fixture("run_crashed.json")
    older["started_at"] = "2020-05-01T00:00:00+00:00"
    store.save_run(RunResult.from_json(older), path)
    store.save_run(typed("run_growing.json"), path)
    return path


@pytest.mark.slow
def test_report_command_writes_files(db, tmp_path):
    out = CliRunner().invoke(
        commands.report,
        [
            "latest",
            "--html",
            str(tmp_path / "r.html"),
            "--md",
            str(tmp_path / "r.md"),
            "--csv",
            str(tmp_path / "r.csv"),
        ],
    )
    assert out.exit_code == 0, out.output
    assert len(_pngs((tmp_path / "r.html").read_text())) == 4
    assert "recreate" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r.csv").read_text().startswith("strategy,status")
    crashed_id = fixture("run_crashed.json")["run_id"]
    out = CliRunner().invoke(commands.report, [crashed_id, "--format", "json"])
    assert out.exit_code == 0 and [r["status"] for r in json.loads(out.output)] == ["crashed", "crashed"]


def test_report_from_a_run_json_file(tmp_path):
    out = CliRunner().invoke(
        commands.report, [str(FIXTURES / "run_crashed.json"), "--format", "csv", "--db", str(tmp_path / "unused.db")]
    )
    assert out.exit_code == 0 and "crashed" in out.output


def test_report_of_a_missing_run_exits_2(db):
    from orchestrator.cli import main  # where errors become exit codes

    out = CliRunner().invoke(main, ["report", "no-such-run"])
    assert out.exit_code == 2 and "no run 'no-such-run'" in out.output


def test_history_lists_and_filters(db):
    runner = CliRunner()
    out = runner.invoke(commands.history, ["--format", "json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert len(rows) == 5  # 3 strategies + 2 strategies
    assert rows[0]["run_id"] == fixture("run_growing.json")["run_id"]  # newest first
    out = runner.invoke(commands.history, ["--strategy", "recreate", "--format", "csv"])
    assert out.output.count("\n") == 2 and "growing" in out.output
    out = runner.invoke(commands.history, ["--since", "30d", "--format", "json"])
    assert {r["run_id"] for r in json.loads(out.output)} == {fixture("run_growing.json")["run_id"]}
    out = runner.invoke(commands.history, ["--engine", "chatllm"])
    assert out.exit_code == 0 and "no runs stored match" in out.output
    out = runner.invoke(commands.history, ["--since", "someday"])
    assert out.exit_code == 2 and "--since" in out.output


def test_history_by_host(db):
    """Each row says where it ran and on which build; --host keeps one machine's runs."""
    other = typed("run_crashed.json")
    other.run_id, other.host = "r-bench-2", dict(other.host, hostname="bench-2")
    store.save_run(other, db)
    runner = CliRunner()
    out = runner.invoke(commands.history, ["--format", "json"])
    assert out.exit_code == 0, out.output
    assert [(r["run_id"], r["host"], r["build"]) for r in json.loads(out.output) if r["strategy"] == "restart"] == [
        ("r-bench-2", "bench-2", "calibration"),
        (fixture("run_growing.json")["run_id"], "bench-1", "calibration"),
        (fixture("run_crashed.json")["run_id"], "bench-1", "calibration"),
    ]
    out = runner.invoke(commands.history, ["--host", "bench-2", "--format", "csv"])
    assert out.exit_code == 0, out.output
    lines = out.output.strip().splitlines()
    assert lines[0].startswith("run_id,started (UTC),host,build,kind,")
    assert {line.split(",")[:4][2:] == ["bench-2", "calibration"] for line in lines[1:]} == {True}
    assert len(lines) == 1 + 2  # the crashed fixture's two strategies
    out = runner.invoke(commands.history, ["--host", "bench-3"])
    assert out.exit_code == 0 and "no runs stored match" in out.output
    out = runner.invoke(commands.history, ["show", "r-bench-2"])
    assert out.exit_code == 0 and "host bench-2" in out.output.splitlines()[0]


NEGATIVE_ZERO = re.compile(r"-0(?:\.0+)?(?![\d.])")  # -0, -0.0, -0.000; not -0.010 or 2020-05-01


def test_history_never_prints_minus_zero(db):
    """`orch history` rounds through output.rounded: a slope of -0.0001 MB/iter is 0.0, a CI end
    of -0.0004 is 0.000 (the list's own rounding printed -0 and -0.000)."""
    tiny = RunResult(
        run_id="neg-zero",
        started_at="2026-11-25T10:00:00+00:00",
        engine={"name": "calibration"},
        plan={"scenario": "asr", "strategies": ["restart"]},
        results=[
            StrategyResult(
                strategy="restart",
                summary=Summary(
                    iters_ok=5,
                    ttft_ms_median=-0.04,
                    tokens_per_s_median=-0.01,
                    growth_mb_per_iter=-0.0001,
                    growth_ci95=[-0.0004, 0.0003],
                    verdict="stable",
                ),
            )
        ],
    )
    store.save_run(tiny, db)
    rows = tables.list_rows(store.list_runs(db, limit=1))
    assert rows == [
        [
            "neg-zero",
            "2026-11-25 10:00:00",
            None,
            "calibration",
            "run",
            "calibration",
            "asr",
            None,
            "restart",
            "ok",
            "stable",
            5,
            0.0,
            "[0.000, 0.000]",
            0.0,
            0.0,
            None,  # text: no drift known
            None,
        ]
    ]
    for fmt in ("table", "csv", "json", "md"):
        out = CliRunner().invoke(commands.history, ["--format", fmt])
        assert out.exit_code == 0, out.output
        assert "neg-zero" in out.output and NEGATIVE_ZERO.search(out.output) is None, (fmt, out.output)


def test_history_show(db):
    runner = CliRunner()
    crashed = fixture("run_crashed.json")
    out = runner.invoke(commands.history, ["show", crashed["run_id"]])
    assert out.exit_code == 0, out.output
    assert "crashed" in out.output and "SIGSEGV" in out.output and "crash_at" in out.output
    out = runner.invoke(commands.history, ["show", crashed["run_id"], "--json"])
    # the whole result, as this orch reads it (orch.run/1 stored, orch.run/2 printed)
    assert (
        json.loads(out.output) == RunResult.from_json(dict(crashed, started_at="2020-05-01T00:00:00+00:00")).to_json()
    )
    from orchestrator.cli import main  # where errors become exit codes

    out = runner.invoke(main, ["history", "show", "nope"])
    assert out.exit_code == 2 and "no run 'nope'" in out.output


def test_cli_maps_the_commands():
    from orchestrator.cli import main

    out = CliRunner().invoke(main, ["--help"])
    for name in ("history", "report", "soak"):
        assert name in out.output


@pytest.mark.slow
def test_report_renders_in_headless_chromium(tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        pytest.skip("no chromium on this machine (apt-get install chromium)")
    page = tmp_path / "r.html"
    page.write_text(report.render_html(typed("run_growing.json")), encoding="utf-8")
    shot = tmp_path / "report.png"
    profile = tempfile.mkdtemp(prefix="orch-chromium-")
    try:
        proc = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--screenshot={shot}",
                "--window-size=1200,2000",
                page.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists() and shot.read_bytes().startswith(b"\x89PNG")
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[0] == 2000 and pixels.shape[1] == 1200
    # not a blank page: the charts put plenty of non-white pixels on it
    non_white = (pixels[..., :3].min(axis=2) < 0.9).mean()
    assert non_white > 0.03, non_white


# --- a soak run's history, change points marked -------------------------------------------------------
def _soak_history_db(path: str) -> str:
    """40 nightly soak runs of key n/calib on bench-1 (a growth step at run 20, a TTFT creep
    from run 20: tests/unit/test_changepoints.py's series), 10 on bench-2 (flat)."""
    import datetime as dt

    from orchestrator.history import changepoints as cp
    from orchestrator.results.model import Outcome, SoakInfo

    t0 = dt.datetime(2026, 1, 1, 3, 15, tzinfo=dt.timezone.utc)
    growth, ttft = cp.synthetic("step", 7), cp.synthetic("creep", 7)
    for host, n in (("bench-1", 40), ("bench-2", 10)):
        for i in range(n):
            summary = Summary(
                growth_mb_per_iter=growth[i],
                growth_ci95=[growth[i] - 0.01, growth[i] + 0.01],
                ttft_ms_median=ttft[i],
                tokens_per_s_median=1000.0,
            )
            store.save_run(
                RunResult(
                    run_id=f"2026-r{i:02d}" + ("" if host == "bench-1" else "-b2"),
                    host={"hostname": host},
                    started_at=(t0 + dt.timedelta(days=i)).isoformat(),
                    engine={"name": "calibration"},
                    plan={"strategies": ["restart"]},
                    results=[StrategyResult(strategy="restart", summary=summary)],
                    soak=SoakInfo(name="n", matrix_key="n/calib", outcome=Outcome.OK),
                ),
                path,
            )
    return path


@pytest.mark.slow
def test_a_soak_runs_report_draws_its_keys_history_with_the_change_points(tmp_path):
    db = _soak_history_db(str(tmp_path / "h.sqlite3"))
    try:
        out = CliRunner().invoke(commands.report, ["2026-r30", "--db", db, "--html", str(tmp_path / "r.html")])
        assert out.exit_code == 0, out.output
        page = (tmp_path / "r.html").read_text(encoding="utf-8")
        # memory of restart, the history of restart, timing
        assert len(_pngs(page)) == 3 and all(len(p) > 2000 for p in _pngs(page))
        assert "<h2>Soak history</h2>" in page and "<code>n/calib</code> on <b>bench-1</b>" in page
        assert (
            'alt="history of restart: growth MB/iter, TTFT ms (p50), tok/s (p50); change points at 2026-r20, 2026-r21"'
        ) in page
        assert '<p class="sub">marked: 2026-r20, 2026-r21</p>' in page
        table = page.split("<h2>Soak history</h2>", 1)[1].split("</table>", 1)[0]
        assert re.findall(r"<td[^>]*>(2026-r\d\d)</td>", table) == ["2026-r20", "2026-r21"]
        assert "0.005 → 0.319" in table and "99.2 → 121.6" in table and "21 of 40" in table
        assert "-b2" not in page  # bench-2's runs are another series
        # bench-2's run: its own ten runs, no change point
        out = CliRunner().invoke(commands.report, ["2026-r05-b2", "--db", db, "--html", str(tmp_path / "b2.html")])
        assert out.exit_code == 0, out.output
        b2 = (tmp_path / "b2.html").read_text(encoding="utf-8")
        assert "<code>n/calib</code> on <b>bench-2</b>" in b2 and "no change point in 10 run(s)" in b2
        assert "change points at none" in b2 and "2026-r20" not in b2
        # not a soak's run: no such section
        store.save_run(typed("run_growing.json"), db)
        out = CliRunner().invoke(commands.report, ["latest", "--db", db, "--html", str(tmp_path / "g.html")])
        assert out.exit_code == 0 and "Soak history" not in (tmp_path / "g.html").read_text(encoding="utf-8")
    finally:
        store.dispose_db_engines()


@pytest.mark.slow
def test_the_history_chart_marks_the_change_points_and_this_run(tmp_path):
    from orchestrator.history import changepoints as cp

    db = _soak_history_db(str(tmp_path / "h.sqlite3"))
    try:
        series = [s for s in cp.history_series(db, matrix_key="n/calib", host="bench-1")]
    finally:
        store.dispose_db_engines()
    changes = {s.key: cp.changes_in(s) for s in series}
    fig = plots._history_figure(series, changes, this_run="2026-r30")
    axes = fig.get_axes()
    assert [s.metric for s in series] == ["growth_mb_per_iter", "ttft_ms_median", "tokens_per_s_median"]
    assert [ax.get_title(loc="left") for ax in axes] == [
        "growth MB/iter: change point at run 2026-r20 (40 runs)",
        "TTFT ms (p50): change point at run 2026-r21 (40 runs)",
        "tok/s (p50): no change point (40 runs)",
    ]
    dashed = [[line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == "--"] for ax in axes]
    assert dashed == [[20.5], [21.5], []]  # before run 21 (2026-r20) and run 22 (2026-r21), counted from 1
    ringed = [
        [(line.get_xdata()[0], line.get_label()) for line in ax.get_lines() if line.get_label() == "this run"]
        for ax in axes
    ]
    assert ringed == [[(31, "this run")]] * 3
    assert [t.get_text().splitlines()[0] for ax in axes for t in ax.texts] == ["2026-r20", "2026-r21"]
    assert plots.history_chart(series, changes).startswith(b"\x89PNG")


@pytest.mark.slow
def test_a_soak_runs_report_without_its_history_is_still_made(tmp_path):
    from orchestrator.results.model import Outcome, SoakInfo

    run = typed("run_growing.json")
    run.soak = SoakInfo(name="n", matrix_key="n/calib", outcome=Outcome.OK)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(run.to_json()), encoding="utf-8")
    out = CliRunner().invoke(
        commands.report, [str(path), "--db", str(tmp_path / "absent.sqlite3"), "--html", str(tmp_path / "r.html")]
    )
    assert out.exit_code == 0, out.output
    assert f"soak history not drawn: no history database at --db {tmp_path / 'absent.sqlite3'}" in out.output
    assert "Soak history" not in (tmp_path / "r.html").read_text(encoding="utf-8")
