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

from orchestrator.history import commands, report, store

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def zero_iterations() -> dict:
    """Every strategy crashed before its first iteration finished."""
    out = fixture("run_crashed.json")
    out["run_id"] = "zero-iters"
    for r in out["results"]:
        r["iterations"], r["summary"] = [], None
        r.pop("samples", None)
    return out


def _pngs(page: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


@pytest.mark.parametrize("make", [lambda: fixture("run_growing.json"), lambda: fixture("run_crashed.json"),
                                  zero_iterations], ids=["growing", "crashed-3-iters", "zero-iters"])
def test_html_is_self_contained_with_charts(make):
    result = make()
    page = report.render_html(result)
    images = _pngs(page)
    # one memory chart per strategy, one timing chart
    assert len(images) == len(result["results"]) + 1
    assert all(img.startswith(b"\x89PNG\r\n\x1a\n") and len(img) > 2000 for img in images)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    for r in result["results"]:
        assert f'id="mem-{r["strategy"]}"' in page
    assert result["host"]["hostname"] in page


def test_html_names_crashes_and_verdicts():
    page = report.render_html(fixture("run_crashed.json"))
    assert "worker killed by SIGSEGV during iteration 4" in page
    assert page.count('class="bad">crashed<') == 2
    grow = report.render_html(fixture("run_growing.json"))
    assert 'class="bad">growing<' in grow


def test_markdown_and_csv_tables():
    result = fixture("run_growing.json")
    md = report.render_markdown(result)
    assert md.startswith(f"# orch run {result['run_id']}")
    assert "| recreate " in md and "growing" in md
    csv_text = report.render_csv(result)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("strategy,status,iters")
    assert len(lines) == 1 + len(result["results"])
    assert report.render_csv(zero_iterations()).count("crashed") == 2


@pytest.fixture
def db(tmp_path, monkeypatch):
    path = str(tmp_path / "h.sqlite3")
    monkeypatch.setenv("ORCH_DB", path)
    older = fixture("run_crashed.json")
    older["started_at"] = "2020-05-01T00:00:00+00:00"
    store.save_run(older, path)
    store.save_run(fixture("run_growing.json"), path)
    return path


def test_report_command_writes_files(db, tmp_path):
    out = CliRunner().invoke(commands.report, ["latest", "--html", str(tmp_path / "r.html"),
                                               "--md", str(tmp_path / "r.md"), "--csv", str(tmp_path / "r.csv")])
    assert out.exit_code == 0, out.output
    assert len(_pngs((tmp_path / "r.html").read_text())) == 4
    assert "recreate" in (tmp_path / "r.md").read_text()
    assert (tmp_path / "r.csv").read_text().startswith("strategy,status")
    crashed_id = fixture("run_crashed.json")["run_id"]
    out = CliRunner().invoke(commands.report, [crashed_id, "--format", "json"])
    assert out.exit_code == 0 and [r["status"] for r in json.loads(out.output)] == ["crashed", "crashed"]


def test_report_from_a_run_json_file(tmp_path):
    out = CliRunner().invoke(commands.report, [str(FIXTURES / "run_crashed.json"), "--format", "csv",
                                               "--db", str(tmp_path / "unused.db")])
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


def test_history_show(db):
    runner = CliRunner()
    crashed = fixture("run_crashed.json")
    out = runner.invoke(commands.history, ["show", crashed["run_id"]])
    assert out.exit_code == 0, out.output
    assert "crashed" in out.output and "SIGSEGV" in out.output and "crash_at" in out.output
    out = runner.invoke(commands.history, ["show", crashed["run_id"], "--json"])
    assert json.loads(out.output) == dict(crashed, started_at="2020-05-01T00:00:00+00:00")
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
    page.write_text(report.render_html(fixture("run_growing.json")), encoding="utf-8")
    shot = tmp_path / "report.png"
    profile = tempfile.mkdtemp(prefix="orch-chromium-")
    try:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             f"--screenshot={shot}", "--window-size=1200,2000", page.as_uri()],
            capture_output=True, text=True, timeout=120)
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
