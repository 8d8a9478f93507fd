"""Running a plan from a command's options and reporting it, shared by run, compare,
attribute, retention and reproduce: the plan after every check (`plan_from_options`), then
the run, its tables, its history and its exit code (`run_and_report`)."""

from __future__ import annotations

import click

from orchestrator import stop_signals
from orchestrator.commands import startup_problems
from orchestrator.commands.run_inputs import (
    inputs_from_cli,
    option_flag,
    output_problems,
    refuse_unusable_history,
    run_progress,
)
from orchestrator.errors import CannotStart, ExitCode, OrchError
from orchestrator.run.plan import NO_STRATEGY, RunPlan
from orchestrator.run.preflight import preflight


def plan_from_options(strategies, kw, strategies_problem: str | None = None) -> RunPlan:
    """The plan, after every check that can be made before a worker starts: the values click
    could not read, the plan itself, its input files, where its results and history go.
    CannotStart lists every problem. `strategies_problem`: what the command found wrong with
    how strategies were asked for (it replaces the plan's "no strategy given")."""
    problems = startup_problems.take()
    plan, notes = RunPlan.build(inputs_from_cli(list(strategies), kw))
    found = preflight(plan, label=option_flag)
    if strategies_problem:
        found = [strategies_problem] + [p for p in found if not p.startswith(NO_STRATEGY)]
    problems += found + output_problems(plan, kw)
    if problems:
        raise CannotStart(problems)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    return plan


def run_and_report(plan: RunPlan, kw) -> None:
    """Run the plan, print its tables, store it; exit with what it found (`run`, `compare`,
    `reproduce`)."""
    # lazy: the runner, analysis and history import numpy, scipy and SQLAlchemy; --help must not
    from orchestrator.history.save import store_history, where_stored
    from orchestrator.results import decision, output
    from orchestrator.results.drift import drifted_strategies
    from orchestrator.run.runner import RunInterrupted, RunWriteFailed, execute, save
    from orchestrator.studies.attribution import attribute_growing

    refuse_unusable_history(kw)
    write_failed = None
    try:
        result = execute(plan, progress_factory=run_progress(plan))
        # ok: every strategy ok or skipped, no text changed under greedy decoding, no resource grows
        growing = any(output.growing_resources(r, failing=True) for r in result.results)
        code = ExitCode.OK if result.ok and not drifted_strategies(result) and not growing else ExitCode.FAILED
    except RunInterrupted as exc:
        result, code = exc.result, stop_signals.exit_code()
        click.echo(f"interrupted: what was measured is written below and in {plan.run_dir / 'run.json'}", err=True)
    except RunWriteFailed as exc:  # a full disk: the table and the history row, then one line
        result, code, write_failed = exc.result, ExitCode.FAILED, exc
        kw = {**kw, "srt_path": None, "attribute": False}
    if kw.get("srt_path"):
        for path in output.write_srt(result, kw["srt_path"]):
            click.echo(f"wrote {path}", err=True)
    click.echo(output.result_table(result, kw["fmt"]))
    per_model = output.switch_table(result, kw["fmt"]) if kw["fmt"] in ("table", "md") else None
    if per_model:  # scenario switch: the per-model memory story
        click.echo("\n" + per_model)
    resources = output.resource_table(result, kw["fmt"]) if kw["fmt"] in ("table", "md") else None
    if resources:  # threads, fds, maps, VmSize, VmHWM per iteration (docs/resources.md)
        click.echo("\n" + resources)
    if kw.get("attribute") and result.results:
        texts = attribute_growing(plan, result)
        save(plan, result)
        click.echo("\n" + "\n".join(texts))
    if kw["fmt"] == "table":
        click.echo(output.result_footer(result, plan.run_dir))
        if decision.is_comparison(result):
            click.echo("\n".join(decision.lines(decision.decide(result))))
    stored = not kw["no_history"] and store_history(result, kw["db"])
    if write_failed:
        raise OrchError(f"{write_failed.message}; {where_stored(stored, result.run_id)}", ExitCode.FAILED)
    click.get_current_context().exit(code)
