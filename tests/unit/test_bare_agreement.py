"""scripts/bare_agreement.py: the check of orch's figures against a runtime's bare loop."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import SimpleNamespace

import pytest
from orchestrator.results.model import IterationRecord, RunResult, Status, StrategyResult, Summary

from conftest import REPO

SCRIPT = REPO / "scripts" / "bare_agreement.py"
_spec = importlib.util.spec_from_file_location("bare_agreement", SCRIPT)
assert _spec and _spec.loader
bare_agreement = importlib.util.module_from_spec(_spec)
sys.modules["bare_agreement"] = bare_agreement  # dataclasses look their module up by name
_spec.loader.exec_module(bare_agreement)
RunFigures = bare_agreement.RunFigures


def run(ttft: float, rss: list[float], strategy: str = "restart", status: Status = Status.OK) -> RunResult:
    """A run whose two warm-up iterations hold far more than the measured ones."""
    iterations = [
        IterationRecord(i=i, warmup=i <= 2, worker_rss_mb=r) for i, r in enumerate([9999.0, 9999.0, *rss], start=1)
    ]
    result = StrategyResult(strategy, status=status, iterations=iterations, summary=Summary(ttft_ms_median=ttft))
    return RunResult(run_id="r", results=[result])


def bare_text(ttft: float, rss: float) -> str:
    return f"ttft_ms_median  {ttft}\n" + json.dumps({"ttft_ms_median": ttft, "rss_after_request_mb_median": rss}) + "\n"


def test_orch_run_takes_the_restart_median_and_leaves_warmup_rss_out():
    assert bare_agreement.orch_run(run(1049.0, [810.0, 815.0, 900.0])) == RunFigures(1049.0, 815.0)
    assert bare_agreement.bare_run(bare_text(1000.0, 800.0)) == RunFigures(1000.0, 800.0)


def test_the_means_of_the_runs_are_compared_within_tolerance():
    ttft, rss = bare_agreement.agreements(
        [RunFigures(1000.0, 800.0), RunFigures(1100.0, 800.0)], [RunFigures(1102.0, 815.0)]
    )
    assert (ttft.bare, ttft.difference, ttft.agrees) == (1050.0, pytest.approx(0.04952, abs=1e-5), True)
    assert (rss.difference, rss.agrees) == (pytest.approx(0.01875), True)
    assert bare_agreement.spread([RunFigures(1000.0, 0.0), RunFigures(1100.0, 0.0)]) == pytest.approx(0.1)


def test_outside_tolerance_differs_either_way():
    ttft, rss = bare_agreement.agreements([RunFigures(1000.0, 800.0)], [RunFigures(949.0, 780.0)])
    assert (ttft.agrees, rss.agrees) == (False, False)
    assert rss.line() == "RSS MB p50    bare      800.0  orch      780.0   -2.50% (within ±2%: DIFFERS)"


def test_only_an_ok_restart_run_is_compared():
    with pytest.raises(ValueError, match="^orch's results are recreate ok: compare a run with one ok restart result$"):
        bare_agreement.orch_run(run(1000.0, [800.0], strategy="recreate"))
    with pytest.raises(ValueError, match="results are restart crashed: compare"):
        bare_agreement.orch_run(run(1000.0, [800.0], status=Status.CRASHED))


def test_the_command_exits_1_on_a_difference_and_2_on_bad_input(tmp_path, monkeypatch, capsys):
    bare1, bare2 = tmp_path / "bare1.txt", tmp_path / "bare2.txt"
    bare1.write_text(bare_text(1000.0, 800.0), encoding="utf-8")
    bare2.write_text(bare_text(1020.0, 800.0), encoding="utf-8")
    ok, off = tmp_path / "ok.json", tmp_path / "off.json"
    ok.write_text(json.dumps(run(1010.0, [801.0]).to_json()), encoding="utf-8")
    off.write_text(json.dumps(run(1100.0, [801.0]).to_json()), encoding="utf-8")

    def command(*args):  # the script's main() in this process, as its command line runs it
        monkeypatch.setattr(sys, "argv", [str(SCRIPT), *map(str, args)])
        code = bare_agreement.main()
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    agrees = command("--bare", bare1, bare2, "--orch", ok)
    assert (agrees.returncode, agrees.stdout.splitlines()[2]) == (
        0,
        "bare runs' TTFT medians: 1000.0, 1020.0 (apart by 2.00%)",
    )
    differs = command("--bare", bare1, "--orch", off)
    assert (differs.returncode, differs.stdout.splitlines()[0]) == (
        1,
        "TTFT ms p50   bare     1000.0  orch     1100.0  +10.00% (within ±5%: DIFFERS)",
    )
    text_only = tmp_path / "text.txt"
    text_only.write_text("ttft_ms_median  1000.0\n", encoding="utf-8")
    no_json = command("--bare", text_only, "--orch", ok)
    assert (no_json.returncode, no_json.stderr) == (
        2,
        "bare_agreement: no JSON line: run the bare script with --json\n",
    )
    not_a_run = command("--bare", bare1, "--orch", bare1)  # a file that is not orch's run JSON
    assert not_a_run.returncode == 2 and not_a_run.stderr.startswith("bare_agreement: ")
