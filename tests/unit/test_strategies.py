"""The strategy registry is the one place a strategy is described; the worker side keeps
only a table of functions, which must name the same strategies."""

from orchestrator.engines import registry as engine_registry
from orchestrator.run import strategies
from orchestrator.run.strategies import Memory, Processes
from workers import main as worker_main


def test_worker_table_matches_the_registry():
    assert list(worker_main.STRATEGIES) == list(strategies.NAMES)


def test_all_means_every_strategy_the_engine_can_run():
    every = ["restart", "recreate", "recreate-destroy", "fresh-process", "cli", "cli-interactive"]
    assert strategies.for_engine("calibration") == every
    assert strategies.for_engine("chatllm") == every


def test_strategies_are_engine_neutral():
    fields = set(strategies.StrategySpec.__dataclass_fields__)
    assert not {"chatllm_needs", "engines"} & fields
    assert not any("chatllm" in f for f in fields)


def test_every_engines_strategies_are_in_the_registry():
    for spec in engine_registry.REGISTRY.values():
        assert set(spec.strategies) <= set(strategies.NAMES), spec.name
    assert engine_registry.ALL_STRATEGIES == strategies.NAMES


def test_chatllm_needs_main_exactly_for_the_strategies_that_run_a_program():
    chatllm = engine_registry.get("chatllm")
    needs = {s: chatllm.needs(s) for s in strategies.NAMES}
    assert needs == {s: "main" if strategies.get(s).runs_a_program else "libchatllm" for s in strategies.NAMES}
    assert {engine_registry.get("calibration").needs(s) for s in strategies.NAMES} == {None}


def test_scenario_rules_come_from_the_entries():
    assert strategies.get("restart").not_applicable("switch").startswith("scenario switch loads")
    assert strategies.get("cli-interactive").not_applicable("switch") is not None
    assert strategies.get("cli-interactive").not_applicable("align").startswith("an interactive program")
    assert strategies.get("recreate").not_applicable("switch") is None
    assert strategies.get("cli").not_applicable("align") is None


def test_memory_attribution_and_processes():
    assert strategies.get("cli").memory is Memory.KERNEL_MAXRSS
    assert strategies.get("cli-interactive").memory is Memory.TREE_MINUS_WORKER
    assert strategies.get("restart").memory is Memory.TREE
    assert strategies.get("fresh-process").processes is Processes.PER_ITERATION
    assert [s for s in strategies.NAMES if strategies.get(s).runs_a_program] == ["cli", "cli-interactive"]


def test_the_docs_quote_the_registry_as_it_is():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    doc = (root / "docs" / "strategies.md").read_text(encoding="utf-8")
    code = (root / "orchestrator" / "run" / "strategies.py").read_text(encoding="utf-8")
    quoted = doc.split("```python\n", 1)[1].split("```", 1)[0].strip()
    assert quoted.rstrip(",") in code
    for field in ("processes", "memory", "keeps_model_loaded", "one_path_per_request", "runs_a_program"):
        assert f"`{field}`" in doc and f"    {field}:" in code
