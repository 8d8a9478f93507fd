"""`orch attribute` on the calibration engine: a known native leak (2 and 8 MiB per call,
allocated in workers/engines/calibration.py:native_alloc) is named as the top stack within
±10%, and a run without a leak names nothing. Needs memray (the `test` extra installs it)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from orchestrator.results.model import RunResult
from orchestrator.studies import attribution

pytestmark = pytest.mark.skipif(attribution.tracer_missing() is not None, reason=str(attribution.tracer_missing()))

FAST = ["--ttft-ms", "5", "--token-ms", "1"]


def attribute(tmp_path, strategy: str, leak: float):
    from orchestrator.cli import main

    out = tmp_path / "attr.json"
    res = CliRunner().invoke(
        main,
        [
            "attribute",
            "--strategy",
            strategy,
            "--engine",
            "calibration",
            "--leak-mb",
            str(leak),
            "--iters",
            "6",
            "--warmup",
            "1",
            *FAST,
            "--out",
            str(tmp_path / "o"),
            "--json",
            str(out),
            "--no-history",
        ],
    )
    assert out.exists(), res.output
    return res, RunResult.from_json(json.loads(out.read_text())).results[0]


@pytest.mark.slow
@pytest.mark.parametrize("strategy,leak", [("recreate", 2.0), ("restart", 8.0)])
def test_a_known_leak_is_the_top_stack_within_ten_percent(tmp_path, strategy, leak):
    res, entry = attribute(tmp_path, strategy, leak)
    assert res.exit_code == 0, res.output
    att = entry.attribution
    assert att is not None and att.error is None
    top = att.stacks[0]
    assert top.name.startswith("native_alloc "), top
    assert abs(top.mib_per_iter - leak) <= 0.1 * leak, top
    assert any(f.startswith("generate ") for f in top.frames), top.frames
    assert att.explained_fraction is not None and 0.9 <= att.explained_fraction <= 1.1
    assert f"attribution of {strategy}" in res.output and "native_alloc" in res.output


def test_no_leak_names_no_stack(tmp_path):
    res, entry = attribute(tmp_path, "recreate", 0.0)
    assert res.exit_code == 0, res.output
    assert entry.attribution.stacks == []
    assert "no stack keeps" in res.output


@pytest.mark.slow
def test_compare_attribute_attributes_only_the_growing_strategy(tmp_path):
    from orchestrator.cli import main

    out = tmp_path / "run.json"
    res = CliRunner().invoke(
        main,
        [
            "compare",
            "--strategies",
            "restart,fresh-process",
            "--leak-mb",
            "2",
            "--iters",
            "6",
            "--warmup",
            "1",
            *FAST,
            "--attribute",
            "--out",
            str(tmp_path / "o"),
            "--json",
            str(out),
            "--no-history",
        ],
    )
    assert res.exit_code == 0, res.output
    run = RunResult.from_json(json.loads((tmp_path / "o").glob("*/run.json").__next__().read_text()))
    by = {r.strategy: r for r in run.results}
    assert by["fresh-process"].attribution is None  # stable: not re-run
    att = by["restart"].attribution
    assert att is not None and att.stacks[0].name.startswith("native_alloc ")
    assert "attribution of restart" in res.output and "native_alloc" in res.output


@pytest.mark.slow
def test_an_untouched_decoy_and_freed_churn_are_not_blamed(tmp_path):
    from orchestrator.run.plan import RunPlan

    plan = RunPlan(
        strategies=["recreate"],
        iters=6,
        warmup=1,
        engine="calibration",
        out_dir=tmp_path,
        engine_options={"ttft_ms": 5, "token_ms": 1, "leak_mb": 2.0, "decoy_mb": 8.0, "churn_mb": 4.0},
    )
    _entry, att = attribution.attribute_strategy(plan, "recreate")
    assert att.error is None and att.weighting == "resident"
    assert [s.name.split(" ")[0] for s in att.stacks] == ["native_alloc"], att.stacks
    assert abs(att.stacks[0].mib_per_iter - 2.0) <= 0.2
