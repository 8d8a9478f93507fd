"""docs/engines.md's example engine `echo`, registered and run through the real runner: its
options reach the worker with their defaults filled in, it runs the strategies its entry
names and preflight refuses the others. The docs quote the example's files as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from orchestrator.engines import registry as engine_registry
from orchestrator.run.plan import RunPlan
from orchestrator.run.preflight import preflight
from orchestrator.run.runner import execute
from tests.example_engine.echo_options import SPEC

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def echo():
    engine_registry.register(SPEC)
    yield SPEC
    engine_registry.unregister(SPEC.name)


def test_echo_runs_through_the_runner(echo, tmp_path):
    plan = RunPlan(
        strategies=["restart", "fresh-process"],
        iters=3,
        warmup=0,
        engine="echo",
        engine_options={"text": "one two three"},
        out_dir=tmp_path,
        sample_hz=0,
    )
    assert preflight(plan) == []
    result = execute(plan)
    assert [(r.strategy, r.status.value, len(r.iterations)) for r in result.results] == [
        ("restart", "ok", 3),
        ("fresh-process", "ok", 3),
    ]
    assert {it.text for r in result.results for it in r.iterations} == {"one two three"}
    assert result.engine == {"name": "echo", "text": "one two three", "decoding": "greedy"}  # what was given


def test_echo_does_not_run_what_its_entry_leaves_out(echo, tmp_path):
    plan = RunPlan(strategies=["cli"], engine="echo", out_dir=tmp_path)
    assert preflight(plan) == ["the echo engine does not run strategy cli (it runs restart, recreate, fresh-process)"]


def test_the_docs_quote_the_example_as_it_is():
    doc = (ROOT / "docs" / "engines.md").read_text(encoding="utf-8")
    blocks = [b.split("```", 1)[0] for b in doc.split("```python\n")[1:]]
    for name in ("echo_options.py", "echo_worker.py"):
        assert (ROOT / "tests" / "example_engine" / name).read_text(encoding="utf-8") in blocks, name
