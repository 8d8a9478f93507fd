"""scripts/bare_agreement.py: the check of orch's figures against a runtime's bare loop."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "bare_agreement.py"
_spec = importlib.util.spec_from_file_location("bare_agreement", SCRIPT)
assert _spec and _spec.loader
bare_agreement = importlib.util.module_from_spec(_spec)
sys.modules["bare_agreement"] = bare_agreement  # dataclasses look their module up by name
_spec.loader.exec_module(bare_agreement)


def run_json(ttft: float, rss: list[float], strategy: str = "restart", status: str = "ok") -> dict:
    iterations = [{"warmup": i < 2, "worker_rss_mb": r} for i, r in enumerate([9999.0, 9999.0, *rss])]
    return {
        "results": [
            {"strategy": strategy, "status": status, "summary": {"ttft_ms_median": ttft}, "iterations": iterations}
        ]
    }


BARE = {"ttft_ms_median": 1000.0, "rss_after_request_mb_median": 800.0}


def test_within_tolerance_agrees_and_warmup_rss_is_left_out():
    ttft, rss = bare_agreement.agreements(BARE, run_json(1049.0, [810.0, 815.0, 900.0]))
    assert (ttft.difference, ttft.agrees) == (pytest.approx(0.049), True)
    assert (rss.orch, rss.difference, rss.agrees) == (815.0, pytest.approx(0.01875), True)


def test_outside_tolerance_differs_either_way():
    ttft, rss = bare_agreement.agreements(BARE, run_json(949.0, [780.0]))
    assert (ttft.agrees, rss.agrees) == (False, False)
    assert rss.line() == "RSS MB p50    bare      800.0  orch      780.0   -2.50% (within ±2%: DIFFERS)"


def test_only_an_ok_restart_run_is_compared():
    with pytest.raises(ValueError, match="^orch's results are recreate ok: compare a run with one ok restart result$"):
        bare_agreement.agreements(BARE, run_json(1000.0, [800.0], strategy="recreate"))
    with pytest.raises(ValueError, match="results are restart crashed: compare"):
        bare_agreement.agreements(BARE, run_json(1000.0, [800.0], status="crashed"))


def test_the_command_exits_1_on_a_difference_and_2_on_bad_input(tmp_path):
    bare = tmp_path / "bare.txt"
    bare.write_text("ttft_ms_median  1000.0\n" + json.dumps(BARE) + "\n", encoding="utf-8")
    ok, off = tmp_path / "ok.json", tmp_path / "off.json"
    ok.write_text(json.dumps(run_json(1010.0, [801.0])), encoding="utf-8")
    off.write_text(json.dumps(run_json(1100.0, [801.0])), encoding="utf-8")
    run = lambda *a: subprocess.run([sys.executable, str(SCRIPT), *map(str, a)], capture_output=True, text=True)
    assert run(bare, ok).returncode == 0
    differs = run(bare, off)
    assert (differs.returncode, differs.stdout.splitlines()[0]) == (
        1,
        "TTFT ms p50   bare     1000.0  orch     1100.0  +10.00% (within ±5%: DIFFERS)",
    )
    text_only = tmp_path / "text.txt"
    text_only.write_text("ttft_ms_median  1000.0\n", encoding="utf-8")
    no_json = run(text_only, ok)
    assert (no_json.returncode, no_json.stderr) == (2, "bare_agreement: no JSON line: run the bare script with --json\n")
