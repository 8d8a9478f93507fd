"""The strategy registry: what each strategy is, in one place. The command line's choices,
`--all`, doctor, the pre-flight, the runner and the per-scenario rules are all read from
here; strategies are engine-neutral: an engine says which it runs and what each needs of it
(orchestrator/engines/registry.py); `workers/main.py` holds the matching table of worker functions (a test
checks the two agree — the worker side never imports the parent's code).

Adding a strategy: one `StrategySpec` below and one module in `workers/` whose `run(session,
first_i, iters)` does the iterations (docs/strategies.md shows one end to end).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from orchestrator.engines import registry as engine_registry


class Memory(str, enum.Enum):
    """How an iteration's memory is attributed."""

    TREE = "tree"  # the worker's whole process tree: the engine lives in the worker
    TREE_MINUS_WORKER = "tree-minus-worker"  # an engine program the worker drives
    KERNEL_MAXRSS = "kernel-maxrss"  # a program gone by the mark: its peak from wait4()


class Processes(str, enum.Enum):
    ONE = "one"  # one worker for all iterations
    PER_ITERATION = "per-iteration"  # a fresh worker for every iteration (and model)


@dataclass(frozen=True)
class StrategySpec:
    name: str
    does: str  # one line: what the worker does
    processes: Processes = Processes.ONE
    memory: Memory = Memory.TREE
    # a model stays loaded for the worker's life: cannot load/unload models in turn
    keeps_model_loaded: bool = False
    # the engine program reads one audio path per request (no room for a transcript)
    one_path_per_request: bool = False
    # it runs the engine's command-line program (the engine's memory is not the worker's)
    runs_a_program: bool = False

    def not_applicable(self, scenario: str) -> str | None:
        """Why this strategy cannot run `scenario`, or None."""
        if scenario == "switch" and self.keeps_model_loaded:
            return (
                f"scenario switch loads and unloads models in turn; {self.name} keeps one "
                "model loaded for its whole life"
            )
        if scenario == "align" and self.one_path_per_request:
            return "an interactive program reads one audio path per request; the aligner also needs the transcript"
        return None


REGISTRY: dict[str, StrategySpec] = {
    s.name: s
    for s in (
        StrategySpec("restart", "load once; restart() between requests", keeps_model_loaded=True),
        StrategySpec("recreate", "create the model object, one request, drop it; every iteration, one process"),
        StrategySpec("recreate-destroy", "as recreate, but through the C API's chatllm_destroy"),
        StrategySpec(
            "fresh-process", "a new process per iteration (load, request, exit)", processes=Processes.PER_ITERATION
        ),
        StrategySpec(
            "cli",
            "the engine's command-line program, once per request",
            memory=Memory.KERNEL_MAXRSS,
            runs_a_program=True,
        ),
        StrategySpec(
            "cli-interactive",
            "one interactive program, one request per line",
            memory=Memory.TREE_MINUS_WORKER,
            keeps_model_loaded=True,
            one_path_per_request=True,
            runs_a_program=True,
        ),
    )
}

NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str) -> StrategySpec:
    return REGISTRY[name]


def for_engine(engine: str) -> list[str]:
    """`--all`: every strategy the engine can run (its registry entry says), in this order."""
    runs = engine_registry.get(engine).strategies
    return [s.name for s in REGISTRY.values() if s.name in runs]
