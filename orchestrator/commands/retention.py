"""`orch retention --strategy S [run options]` (orchestrator.studies.retention): the strategy
in arms that differ only in what glibc may keep; the report (results.retention_probe), the
probe's JSON with --json; exit 0 when every arm ran to the end, 1 otherwise."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.commands.options import common_options
from orchestrator.commands.running import plan_from_options
from orchestrator.errors import CannotStart, ExitCode
from orchestrator.run import strategies as registry

ARM_NAMES = ("plain", "trim", "tunable")  # studies.retention.ARMS, kept equal by a test


@click.command()
@click.option(
    "--strategy",
    type=click.Choice(registry.NAMES),
    required=True,
    help="The strategy to run once per arm (one that grows: recreate, recreate-destroy, switch).",
)
@click.option(
    "--arms",
    default=",".join(ARM_NAMES),
    show_default=True,
    help="plain, trim (malloc_trim after every unload), tunable (GLIBC_TUNABLES trim_threshold=0).",
)
@common_options
def retention(strategy, arms, **kw):
    """Leak or retention? Run a strategy in arms that differ only in what glibc may keep
    (plain, malloc_trim after every unload, a trim-threshold tunable), compare the memory
    left at after_unload, and say leak, retention, both, or stable (docs/real-scale.md)."""
    # lazy: the study imports the runner and numpy; --help must not
    from orchestrator.results.atomic import write_json_atomic
    from orchestrator.results.retention_probe import probe_report
    from orchestrator.studies import retention as study

    chosen = study.choose_arms(arms)
    if registry.get(strategy).keeps_model_loaded:
        raise CannotStart(
            [
                f"--strategy {strategy} keeps its model loaded: there is no after_unload mark per "
                "request to compare (use recreate, recreate-destroy, or --scenario switch)"
            ]
        )
    kw["no_history"] = True
    json_path = kw.pop("json_path", None)
    kw["json_path"] = None  # the arms' runs write their own run.json; --json gets the probe's
    plan = plan_from_options([strategy], kw)
    result = study.probe(plan, strategy, chosen)
    click.echo(probe_report(result))
    if json_path:
        write_json_atomic(Path(json_path), result.to_json())
    ok = all(a.status == "ok" for a in result.arms)
    click.get_current_context().exit(ExitCode.OK if ok else ExitCode.FAILED)
