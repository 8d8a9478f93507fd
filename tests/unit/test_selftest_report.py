"""`orch selftest`'s report: pass, FAIL and skipped rows, the closing tally and the exit
code (the checks themselves run the whole harness; here they are given)."""

from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.results.checks import Check, result
from orchestrator.studies import attribution, selftest

PASS = Check("restart growth", "1 MB/iter", 1.002, True)
FAIL = Check("recreate growth", "2 MB/iter", 2.5, False, "off by 0.5")


def run_with(monkeypatch, checks):
    monkeypatch.setattr(selftest, "run_selftest", lambda *a, **k: checks)
    return CliRunner().invoke(main, ["selftest", "--format", "csv"])


def test_without_memray_attribution_is_one_skipped_check(monkeypatch):
    monkeypatch.setattr(attribution, "tracer_missing", lambda: "memray is not installed: pip install memray")
    (check,) = selftest.attribution_checks(10, 2, None)
    assert check.skipped and check.ok
    assert check.detail == "skipped: memray is not installed: pip install memray"
    assert result(check) == "skipped"


def test_a_skipped_check_says_skipped_and_does_not_fail_the_run(monkeypatch):
    skip = Check("attribution", "—", None, True, "skipped: no memray", skipped=True)
    r = run_with(monkeypatch, [PASS, skip])
    assert r.exit_code == 0
    lines = r.stdout.strip().splitlines()
    assert lines[1].split(",")[3] == "pass"
    assert lines[2].split(",")[3] == "skipped"
    assert "1 passed, 0 failed, 1 skipped" in r.stderr


def test_a_failed_check_exits_1(monkeypatch):
    r = run_with(monkeypatch, [PASS, FAIL])
    assert r.exit_code == 1
    assert r.stdout.strip().splitlines()[2].split(",")[3] == "FAIL"
    assert "1 passed, 1 failed" in r.stderr and "skipped" not in r.stderr


def test_an_inconclusive_check_is_counted_apart_and_does_not_fail_the_run(monkeypatch):
    busy = Check("cli: median TTFT", "50 ms", 52.584, False, "host busy: load average 3.10 on 2 CPUs", inconclusive=True)
    r = run_with(monkeypatch, [PASS, busy])
    assert r.exit_code == 0
    assert r.stdout.strip().splitlines()[2].split(",")[3:] == ["inconclusive", "host busy: load average 3.10 on 2 CPUs"]
    assert r.stderr.strip().splitlines()[-1] == (
        "1 passed, 0 failed, 1 inconclusive (host busy: run again on a quieter host to judge them)"
    )
    r = run_with(monkeypatch, [PASS, busy, FAIL])
    assert r.exit_code == 1
    assert "1 passed, 1 failed, 1 inconclusive" in r.stderr


def test_the_selftests_plans_are_built_by_runplan_build_and_their_notes_said(tmp_path):
    """selftest builds its runs through RunPlan.build (no memory guard, typed options) and
    says what build notes: --warmup 8 with --iters 8 leaves nothing to measure."""
    plan = selftest.calibration_plan("recreate", {"leak_mb": 2.0, "decoy_mb": 8.0}, 8, 2, tmp_path)
    assert plan.max_rss_mb is None and plan.option_problems == [] and plan.validate() == []
    assert plan.engine_options.describe() == {"leak_mb": 2.0, "decoy_mb": 8.0}
    assert selftest.plan_notes(14, 2, tmp_path) == []
    note = "--warmup 8 >= --iters 8: no iteration is left for the statistics"
    assert selftest.plan_notes(8, 8, tmp_path) == [note]
    assert selftest.plan_notes(14, 8, tmp_path) == [note]  # the attribution runs' (at most 8 iterations)
