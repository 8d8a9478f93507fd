"""`orch compare --engines A,B,...` (orchestrator.studies.runtimes): which runtime? Every
engine × strategy one after another, each strategy in its own worker(s), one table and one
stored result, with each row's speed against the host's measured limits (docs/limits.md).

Models: `--model ENGINE=PATH` (repeatable, one per engine); an engine without one gets its
test model `--model-name` of `--shape` from its registry entry's `find_model` (the manifest
`orch make-test-models` wrote into its default folder). An engine that cannot run (no model,
its runtime missing) is one `error` row saying why, and the others still run; a problem
every engine has (an audio file that is not there) stops the run before anything starts.

Exit codes (errors.ExitCode): 0 every row ok (or skipped: a strategy the engine does not run)
and no text drifted, 1 a row failed or an engine could not run, 2 nothing could start (bad
option, or no engine can run), 130 Ctrl-C (143 SIGTERM, 129 SIGHUP: the same) (what was measured is written first)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from orchestrator import stop_signals
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart, ExitCode, OrchError
from orchestrator.run import strategies as registry

DEFAULT_MODEL_NAME = {"tiny": "tiny-asr-a", "full": "shape-qwen3-asr-0.6b"}
SHAPES = tuple(DEFAULT_MODEL_NAME)
# compare's options that have no meaning for several engines at once
NOT_WITH_ENGINES = {"attribute": "--attribute", "srt_path": "--srt", "models": "--models"}


def parse_engines(text: str, repeats: bool = False) -> list[str]:
    """The engines asked for, in order; CannotStart for an unknown one, or a repeated one
    unless `repeats` (`orch load --engines`: an engine named twice runs twice)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in engine_registry.REGISTRY]
    if unknown:
        raise CannotStart(
            f"--engines: unknown engine {', '.join(unknown)} (engines: {', '.join(engine_registry.NAMES)})"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated and not repeats:
        raise CannotStart(f"--engines: {', '.join(repeated)} given more than once")
    if not names:
        raise CannotStart("--engines: give at least one engine, e.g. --engines chatllm,transformers")
    return names


def parse_models(values: tuple[str, ...], engines: list[str]) -> dict[str, str]:
    """--model ENGINE=PATH, once per engine; a bare PATH only when one engine is compared."""
    out: dict[str, str] = {}
    problems = []
    for value in values:
        engine, sep, path = value.partition("=")
        if not sep or engine not in engine_registry.REGISTRY:
            if len(engines) == 1:
                engine, path = engines[0], value
            else:
                problems.append(f"--model {value}: with --engines say which engine it is for: --model ENGINE=PATH")
                continue
        if engine not in engines:
            problems.append(f"--model {value}: {engine} is not in --engines ({', '.join(engines)})")
        elif engine in out:
            problems.append(f"--model: two models for {engine} ({out[engine]}, {path})")
        elif not path:
            problems.append(f"--model {value}: no path after {engine}=")
        else:
            out[engine] = path
    if problems:
        raise CannotStart(problems)
    return out


def chosen_strategies(engines: list[str], all_: bool, strategies: str | None) -> tuple[list[str], bool]:
    """(the strategies, in order; whether they were named): --strategies a,b, or every
    strategy any of the engines runs (--all, or neither given)."""
    if all_ and strategies is not None:
        raise CannotStart("give either --all or --strategies a,b, not both")
    if strategies is None:
        runs = {s for e in engines for s in engine_registry.get(e).strategies}
        return [s for s in registry.NAMES if s in runs], False
    names = list(dict.fromkeys(s.strip() for s in strategies.split(",") if s.strip()))
    unknown = [s for s in names if s not in registry.NAMES]
    if unknown or not names:
        raise CannotStart(
            f"--strategies: {'unknown strategy ' + ', '.join(unknown) if unknown else 'none given'} "
            f"(strategies: {', '.join(registry.NAMES)})"
        )
    return names, True


def model_for(engine: str, given: dict[str, str], name: str, shape: str) -> tuple[str | None, str | None]:
    """(the model, why there is none): --model ENGINE=PATH, else the engine's test model;
    (None, None) for an engine without test models (calibration: it needs no model)."""
    if engine in given:
        return given[engine], None
    spec = engine_registry.get(engine)
    if spec.find_model is None:
        return None, None
    found = spec.test_model(name, shape)
    if found is not None:
        return str(found), None
    return None, (
        f"no {shape} test model {name} for {engine} in its default folder: "
        f"orch make-test-models --runtime {engine}{' --shape full' if shape == 'full' else ''}, or --model {engine}=PATH"
    )


def build_runs(
    engines: list[str], strategies: list[str], named: bool, models: dict[str, str], name: str, shape: str, kw: dict
):
    """Each engine's EngineRun; CannotStart for what every engine gets wrong (or when no
    engine can run), so a bad option stops the run before anything starts."""
    from orchestrator.commands.run_inputs import inputs_from_cli, option_flag
    from orchestrator.run.plan import RunPlan
    from orchestrator.run.preflight import preflight
    from orchestrator.studies.runtimes import EngineRun

    runs, problems = [], {}
    for engine in engines:
        spec = engine_registry.get(engine)
        model, missing = model_for(engine, models, name, shape)
        run = EngineRun(engine, model)
        runs.append(run)
        mine = [s for s in strategies if spec.runs(s)]
        others = [s for s in strategies if not spec.runs(s)]
        if named:
            run.skipped = {s: f"the {engine} engine does not run {s}" for s in others}
        elif others:
            run.notes.append(f"{engine} does not run {', '.join(others)}")
        if missing:
            run.problem = missing
            continue
        if not mine:
            continue
        kw_e = {**kw, "engine": engine, "model": model, "models": None}
        try:
            plan, notes = RunPlan.build(inputs_from_cli(mine, kw_e))
        except CannotStart as exc:
            problems[engine] = exc.problems
            continue
        problems[engine] = preflight(plan, label=option_flag)
        run.plan, run.notes = (None if problems[engine] else plan), run.notes + notes
    started = [r for r in runs if r.engine in problems]
    shared = (
        [p for p in problems.get(started[0].engine, []) if all(p in problems[r.engine] for r in started)]
        if started
        else []
    )
    if shared:
        raise CannotStart(shared)
    for run in started:
        if problems[run.engine]:
            first, more = problems[run.engine][0], len(problems[run.engine]) - 1
            run.problem = first + (f" (and {more} more: orch doctor --engine {run.engine})" if more else "")
    if runs and all(r.problem for r in runs):
        raise CannotStart([f"{r.engine}: {r.problem}" for r in runs])
    return runs


def compare_engines(ctx: click.Context, engines_text: str, all_: bool, strategies: str | None, kw: dict) -> None:
    """Run the comparison, print its table and notes, store it; exit with what it found."""
    from orchestrator.commands import startup_problems
    from orchestrator.commands.run_inputs import output_problems, refuse_unusable_history, run_progress

    problems = startup_problems.take()
    if problems:
        raise CannotStart(problems)
    given = [flag for key, flag in NOT_WITH_ENGINES.items() if kw.get(key)]
    if ctx.get_parameter_source("engine") is click.core.ParameterSource.COMMANDLINE:
        given.append("--engine")
    if given:
        raise CannotStart(f"--engines compares engines: {', '.join(given)} cannot be given with it")
    engines = parse_engines(engines_text)
    shape = kw.pop("shape") or "tiny"
    name = kw.pop("model_name") or DEFAULT_MODEL_NAME[shape]
    models = parse_models(tuple(kw["model"] or ()), engines)
    chosen, named = chosen_strategies(engines, all_, strategies)
    runs = build_runs(engines, chosen, named, models, name, shape, kw)
    out_problems = output_problems(None, {**kw, "model": None})
    if out_problems:
        raise CannotStart(out_problems)
    refuse_unusable_history(kw)
    _run_and_report(runs, chosen, name, shape, kw, run_progress)


def _run_and_report(runs, chosen, name, shape, kw, run_progress) -> None:
    # lazy: the runner, analysis, the probe and history import numpy, scipy and SQLAlchemy
    from orchestrator.history.save import store_history, where_stored
    from orchestrator.results import decision, output
    from orchestrator.results.model import HostLimits
    from orchestrator.results.runtime_table import host_limits_line, runtime_notes, runtime_table
    from orchestrator.run import host_limits
    from orchestrator.studies import runtimes

    for run in runs:
        for note in run.notes:
            click.echo(f"note: {run.engine}: {note}", err=True)
    threads = kw.get("threads") or os.cpu_count() or 1

    def measure() -> HostLimits | None:
        if not kw["limits"]:
            return None
        click.echo(
            f"compare: measuring the host's memory bandwidth and matmul peak at {threads} thread(s) ...", err=True
        )
        return host_limits.measure(threads)

    done = runtimes.run_engines(
        runs,
        chosen,
        Path(kw["out"]),
        measure,
        json_path=Path(kw["json_path"]) if kw["json_path"] else None,
        model_name=name,
        shape=shape,
        echo=lambda text: click.echo(text, err=True),
        progress=run_progress,
    )
    result = done.result
    if done.interrupted:
        click.echo(f"interrupted: what was measured is written below and in {done.run_dir / 'run.json'}", err=True)
    click.echo(runtime_table(result, kw["fmt"]))
    resources = output.resource_table(result, kw["fmt"]) if kw["fmt"] in ("table", "md") else None
    if resources:  # threads, fds, maps, VmSize, VmHWM that moved (docs/resources.md)
        click.echo("\n" + resources)
    if kw["fmt"] == "table":
        click.echo(host_limits_line(result.host_limits))
        for line in runtime_notes(result) + output.resource_lines(result):
            click.echo(line)
        click.echo("\n".join(decision.lines(decision.decide(result))))
        click.echo(f"results: {done.run_dir}  (run.json; <engine>/ holds each engine's run and worker logs)")
    stored = not kw["no_history"] and store_history(result, kw["db"])
    if done.write_failed:  # a full disk: the table and the history row, then one line
        raise OrchError(f"{done.write_failed.message}; {where_stored(stored, result.run_id)}", ExitCode.FAILED)
    if done.interrupted:
        code = stop_signals.exit_code()
    else:
        code = ExitCode.FAILED if runtimes.failed(result) else ExitCode.OK
    click.get_current_context().exit(code)
