"""`orch attribute [SOURCE]` (orchestrator.studies.attribution): re-run strategies' workers
under memray --native, print each one's stacks (results.stacks), write run.json."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.commands.options import common_options
from orchestrator.commands.running import plan_from_options
from orchestrator.errors import ExitCode, OrchError
from orchestrator.run import strategies


@click.command()
@click.argument("source", required=False)
@click.option(
    "--strategy",
    "strategy",
    type=click.Choice(strategies.NAMES),
    default=None,
    help="The strategy to attribute (with SOURCE: default every `growing` one of that run).",
)
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Stacks kept per strategy.")
@common_options
def attribute(source, strategy, top, **kw):
    """Re-run a strategy's worker under memray --native and name the call stacks whose
    memory, allocated in one iteration, stays live: MiB per iteration per stack.

    SOURCE (RUN_ID, `latest` or a run.json) takes the measured growth and the wall
    time (for the overhead) from that run; without it, give --strategy and run options."""
    # lazy: the study imports the runner and numpy; --help must not
    from orchestrator.results.stacks import attribution_text
    from orchestrator.studies import attribution as study

    missing = study.tracer_missing()
    if missing:
        raise OrchError(missing)
    chosen, measured, path = study.chosen_strategies(source, strategy, Path(kw["out"]))
    ctx = click.get_current_context()
    if not chosen:
        click.echo(f"no strategy of {path} is growing; nothing to attribute (name one with --strategy)")
        ctx.exit(ExitCode.OK)
    kw["no_history"] = True
    plan = plan_from_options(chosen, kw)
    result, code = study.attribute_all(
        plan,
        chosen,
        measured,
        top,
        on_done=lambda s, att: click.echo(attribution_text(att, s)),
    )
    run_json = study.write_result(plan, result, kw.get("json_path"))
    click.echo(f"results: {run_json}", err=True)
    ctx.exit(code)
