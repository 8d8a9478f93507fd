"""`orch run` and `orch compare`: build a RunPlan from options, execute it, print the table.

Exit codes: 0 every strategy ok (or skipped as not applicable), 1 a strategy crashed,
timed out or failed, 2 the run could not start (bad option, missing input), 130 Ctrl-C (143 SIGTERM, 129 SIGHUP: the same)
(what was measured is written first).
"""

from __future__ import annotations

import click

from orchestrator.commands.options import DEFAULT, common_options, compare_option_decorators
from orchestrator.commands.run_inputs import one_model
from orchestrator.commands.running import plan_from_options, run_and_report
from orchestrator.commands.startup_problems import option
from orchestrator.errors import CannotStart
from orchestrator.run import strategies as registry

# one line for the newcomer whose first `orch compare` runs the default engine
CALIBRATION_NOTE = (
    "note: no --engine given: these numbers come from the calibration engine (a fake engine with set "
    "timings that proves the harness), not from a model; --engine chatllm --model FILE measures Qwen3-ASR"
)


def _compare_options(f):
    for d in reversed(compare_option_decorators()):
        f = d(f)
    return f


@click.command()
@option(
    "--strategy",
    metavar=f"[{'|'.join(registry.NAMES)}]",
    help="The strategy (required; `orch compare` runs several).",
)
@option(
    "--attribute",
    is_flag=True,
    help="Then re-run every growing strategy under memray --native and name the stacks that keep the memory "
    "(orch attribute; docs/attribution.md).",
)
@common_options
def run(strategy, **kw):
    """Run one strategy for --iters iterations in its own worker process."""
    missing = None if strategy else f"--strategy is required: one of {', '.join(registry.NAMES)}"
    run_and_report(plan_from_options([strategy] if strategy else [], kw, missing), kw)


@click.command()
@_compare_options
@common_options(repeat_model=True)
def compare(all_, strategies, engines, model_name, shape, limits, **kw):
    """Run several strategies, one after another, each in its own worker process(es); with
    --engines, on several engines, into one table."""
    if engines is not None:
        from orchestrator.commands.compare_engines import compare_engines

        kw.update(model_name=model_name, shape=shape, limits=limits)
        compare_engines(click.get_current_context(), engines, all_, strategies, kw)
        return
    given = [flag for flag, value in (("--model-name", model_name), ("--shape", shape)) if value]
    if click.get_current_context().get_parameter_source("limits") is click.core.ParameterSource.COMMANDLINE:
        given.append("--limits/--no-limits")
    if given:
        raise CannotStart(f"{', '.join(given)}: only with --engines (the test model of each engine compared)")
    kw["model"] = one_model(kw["model"])
    problem = None
    if all_ == (strategies is not None):
        problem = f"give either --all or --strategies a,b{', not both' if all_ else ''}"
    if all_ and strategies is None:
        chosen = registry.for_engine(kw["engine"] or DEFAULT.engine)
    else:  # unknown, repeated or no strategies: named with every other problem (RunPlan.validate)
        chosen = [s.strip() for s in (strategies or "").split(",") if s.strip()]
    plan = plan_from_options(chosen, kw, problem)
    source = click.get_current_context().get_parameter_source("engine")
    if source is not click.core.ParameterSource.COMMANDLINE and plan.engine == DEFAULT.engine:  # the default
        click.echo(CALIBRATION_NOTE, err=True)
    run_and_report(plan, kw)
