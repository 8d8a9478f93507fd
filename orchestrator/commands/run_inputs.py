"""The command line's words as a run's inputs, for `run`, `compare` (and its --engines),
`ab` and the commands that build a RunPlan: --model as one path, PlanInputs, where the
results go, the progress bars."""

from __future__ import annotations

import sys
from pathlib import Path

from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart
from orchestrator.results.progress import progress_bars
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs
from orchestrator.run.worker_env import parse as parse_worker_env


def option_flag(key: str) -> str:
    """A plan field's command-line option: iter_timeout -> --iter-timeout."""
    return "--" + key.replace("_", "-")


def one_model(value) -> str | None:
    """--model as one path: compare's --model is repeatable (for --engines), and without
    --engines may be given once; CannotStart when it was given more often."""
    if not isinstance(value, (tuple, list)):
        return value
    if len(value) > 1:
        raise CannotStart(
            f"--model given {len(value)} times: one model (several engines: --engines A,B --model A=PATH --model B=PATH)"
        )
    return value[0] if value else None


def inputs_from_cli(strategies: list[str], kw: dict) -> PlanInputs:
    """The command line's words as PlanInputs (soak configs make the same from a cell)."""
    model = one_model(kw["model"])
    models = [m for m in (kw["models"] or "").split(",") if m] or ([model] if model else [])
    spec = engine_registry.REGISTRY.get(kw["engine"])
    options = fields.from_cli(spec.options, kw) if spec else {}
    return PlanInputs(
        strategies=strategies,
        iters=kw["iters"],
        warmup=kw["warmup"],
        engine=kw["engine"],
        scenario=kw["scenario"],
        decoding=kw.get("decoding"),
        models=models,
        audio=kw["audio"],
        reference=kw["reference"],
        transcript=kw["transcript"],
        language=kw["language"],
        out_dir=Path(kw["out"]),
        iter_timeout=kw["iter_timeout"],
        sample_hz=kw["sample_hz"],
        idle_s=kw.get("idle_s"),
        growth_threshold_mb=kw["growth_threshold_mb"],
        plateau_min_tail=kw["plateau_min_tail"],
        json_path=Path(kw["json_path"]) if kw["json_path"] else None,
        max_rss_mb=kw["max_rss_mb"],
        resource_guard=kw.get("resource_guard"),
        engine_options=options,
        progress=sys.stdout.isatty(),
        worker_env=parse_worker_env(kw.get("worker_env") or ()),
    )


def output_problems(plan: RunPlan | None, kw) -> list[str]:
    """Where the results go: --out must be (or become) a folder, --json and --srt files, and
    the history database's folder must exist (docs/history.md)."""
    problems = []
    if kw.get("model") and kw.get("models"):
        problems.append("--model and --models both given: --model for one model, --models A,B for --scenario switch")
    out = Path(kw["out"])
    if out.exists() and not out.is_dir():
        problems.append(f"--out {out} is a file, not a folder")
    for key in ("json_path", "srt_path"):
        if kw.get(key) and Path(kw[key]).is_dir():
            problems.append(f"--{'json' if key == 'json_path' else 'srt'} {kw[key]} is a folder, not a file")
    if not kw["no_history"]:
        from orchestrator.history.store import db_problem  # lazy: SQLAlchemy; --help must not import it

        why = db_problem(kw["db"], write=True)
        if why:
            problems.append(f"{why}; or pass --no-history")
    return problems


def refuse_unusable_history(kw) -> None:
    """CannotStart (exit 2) when the history database cannot be opened or written (a damaged
    or truncated file, a server that refuses): checked when the command is about to start its
    first worker, as `orch soak` does, so the row is not lost after the run. Opening creates
    the file, so this comes after every other start-up check."""
    if kw.get("no_history"):
        return
    from orchestrator.history.store import usable_problem  # lazy: SQLAlchemy; --help must not import it

    why = usable_problem(kw.get("db"))
    if why:
        raise CannotStart(f"{why}; or pass --no-history")


def run_progress(plan: RunPlan, prefix: str = ""):
    """The plan's progress bars (results.progress), or None when it shows none (not a terminal)."""
    if not plan.progress:
        return None
    return progress_bars(plan.iters * max(1, len(plan.models) if plan.scenario == "switch" else 1), prefix)
