"""Leak or retention? A strategy that grows (recreate, recreate-destroy, switch) is run again
in arms that differ only in what the C library may keep, and the growth at the `after_unload`
mark (nothing loaded: what is still there is held by someone) is compared across them.

Arms (the same plan each time, a fresh worker each):
- `plain`: as the strategy runs;
- `trim`: the worker calls glibc's `malloc_trim(0)` after every unload (worker engine option
  `trim_after_unload`, workers/loop.py): free chunks anywhere in every arena go back to the
  kernel before the mark is sampled;
- `tunable`: `GLIBC_TUNABLES=glibc.malloc.trim_threshold=0` in the worker's environment:
  every free() gives the heap's top back at once (only the top: a free chunk under a live
  one stays, so this arm can keep more than `trim`).

Reading (`classify`), on two figures at the `after_unload` mark: the growth per iteration
(MB, slope over the measured iterations) and `retained_mb`, how much more plain holds than
trim at the same iteration (mean):
- growth: `leak` (or held on purpose) when trim grows about as much as plain: the memory is
  still allocated (for chatllm.cpp's bindings without destroy that is by design, LibChatLLM
  keeps every object; with destroy it is what the engine does not free); `retention` when
  plain grows and trim does not: the allocator kept freed memory (reused, not lost: plain's
  series levels off once its free lists cover an iteration); `partly retention` when trim
  grows clearly less than plain; `stable` when neither grows;
- and `+ retention` when plain sits `retained_mb` above trim without growing apart: memory
  freed at unload that glibc kept (a constant, not a leak: the next load reuses it).

This module runs the arms through the normal runner; `trim_after_unload` is a typed engine
option (orchestrator/engines/options.py; `--trim-after-unload` on the command line).
`orch retention --strategy S [run options]` is its command (orchestrator.commands.retention):
the report (results.retention_probe), the probe's JSON with --json, exit 0 when every arm ran
to the end, 1 otherwise.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.errors import CannotStart
from orchestrator.results import analysis
from orchestrator.results.model import IterationRecord, RunResult
from orchestrator.results.retention_probe import ArmFigures, ProbeResult
from orchestrator.run import runner
from orchestrator.run.plan import RunPlan, new_run_id

TRIM_OPTION = "trim_after_unload"
TUNABLE = "glibc.malloc.trim_threshold=0"


@dataclass(frozen=True)
class Arm:
    name: str
    worker_options: dict = field(default_factory=dict)  # added to the engine options the worker gets
    env: dict = field(default_factory=dict)  # added to the worker's environment


ARMS = (
    Arm("plain"),
    Arm("trim", worker_options={TRIM_OPTION: True}),
    Arm("tunable", env={"GLIBC_TUNABLES": TUNABLE}),
)


def with_worker_options(options, extra: dict):
    """`options` (engine_options.CalibrationOptions / ChatLLMOptions) with `extra` set."""
    return dataclasses.replace(options, **extra) if extra else options


def with_worker_env(passed: dict, extra: dict, parent: Mapping[str, str] | None = None) -> dict:
    """The plan's pass-through variables (--worker-env: name -> value, or None for orch's
    own value) with the arm's `extra` added: workers get only an allow list of orch's
    environment plus these (orchestrator.run.worker_env). A GLIBC_TUNABLES the user passed
    through is extended, not replaced."""
    parent = os.environ if parent is None else parent
    out = dict(passed)
    for k, v in extra.items():
        old = passed[k] if passed.get(k) is not None else parent.get(k) if k in passed else None
        out[k] = f"{old}:{v}" if k == "GLIBC_TUNABLES" and old else v
    return out


def figures(arm: str, status: str, iterations: list[IterationRecord]) -> ArmFigures:
    """The arm's series from its iteration records (warm-up iterations left out)."""
    its = [it for it in iterations if not it.warmup]
    unload = [(it.i, v) for it in its if (v := it.phase_rss("after_unload")) is not None]
    infer = [(it.i, it.rss_mb) for it in its if it.rss_mb is not None]
    return ArmFigures(
        arm=arm,
        status=status,
        iters=[i for i, _ in unload],
        after_unload_mb=[round(v, 1) for _, v in unload],
        after_infer_mb=[round(v, 1) for _, v in infer],
        growth_after_unload=analysis.slope_ci([i for i, _ in unload], [v for _, v in unload]),
        growth_after_infer=analysis.slope_ci([i for i, _ in infer], [v for _, v in infer]),
    )


def retained(plain: ArmFigures, trimmed: ArmFigures) -> float | None:
    """Mean of plain - trim at after_unload over the iterations both have (MB)."""
    t = dict(zip(trimmed.iters, trimmed.after_unload_mb, strict=True))
    diffs = [v - t[i] for i, v in zip(plain.iters, plain.after_unload_mb, strict=True) if i in t]
    return round(sum(diffs) / len(diffs), 1) if diffs else None


def classify(
    plain: float | None,
    trimmed: float | None,
    retained_mb: float | None = None,
    threshold: float = 0.5,
    retained_threshold_mb: float = 10.0,
) -> str:
    """Leak or retention from the growth per iteration at after_unload (MB) without and with
    trim, and what plain keeps above trim (MB). `threshold`: growth under it counts as none
    (MB per iteration); `retained_threshold_mb`: a smaller gap counts as none."""
    if plain is None or trimmed is None:
        return "unknown"
    grows, trim_grows = plain >= threshold, trimmed >= threshold
    if not grows and not trim_grows:
        growth = "stable"
    elif not trim_grows:
        growth = "retention"
    elif not grows:  # trim grows, plain does not: noise or something odd; say so
        return "unknown"
    else:
        growth = "leak" if trimmed >= 0.8 * plain else "partly retention"
    if growth in ("leak", "stable") and retained_mb is not None and retained_mb >= retained_threshold_mb:
        return "retention" if growth == "stable" else "leak + retention"
    return growth


def probe(plan: RunPlan, strategy: str, arms=ARMS, threshold: float = 0.5, execute=None) -> ProbeResult:
    """Run `strategy` of `plan` once per arm and classify. `execute` (tests) defaults to
    orchestrator.run.runner.execute."""
    if execute is None:
        execute = runner.execute
    out, runs = [], {}
    for arm in arms:
        arm_plan = dataclasses.replace(
            plan,
            strategies=[strategy],
            run_id=f"{new_run_id()}-{arm.name}",
            engine_options=with_worker_options(plan.engine_options, arm.worker_options),
            worker_env=with_worker_env(plan.worker_env, arm.env),
            json_path=None,
        )
        result: RunResult = execute(arm_plan)
        entry = result.results[0]
        runs[arm.name] = str(arm_plan.run_dir)
        out.append(figures(arm.name, entry.status.value, entry.iterations))
    by = {a.arm: a for a in out}
    plain, trimmed = by.get("plain"), by.get("trim")
    kept = retained(plain, trimmed) if plain and trimmed else None
    verdict = classify(plain.slope if plain else None, trimmed.slope if trimmed else None, kept, threshold)
    return ProbeResult(strategy=strategy, arms=out, verdict=verdict, runs=runs, retained_mb=kept)


def choose_arms(names: str) -> list[Arm]:
    """The arms named (comma-separated, in ARMS' order); CannotStart for an unknown one or
    a set without both plain and trim (the verdict compares those two)."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    known = {a.name: a for a in ARMS}
    problems = [f"--arms: unknown arm {n!r} (choose from {', '.join(known)})" for n in wanted if n not in known]
    if not problems and not {"plain", "trim"} <= set(wanted):
        problems.append("--arms must include plain and trim: the verdict compares them")
    if problems:
        raise CannotStart(problems)
    return [a for a in ARMS if a.name in wanted]
