"""`orch selftest` (orchestrator.studies.selftest): the calibration engine through every
strategy with known leaks and timings; the checks' table (results.checks); exit 1 on any miss."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from orchestrator.errors import ExitCode
from orchestrator.results.tabular import format_option


@click.command()
@click.option("--iters", type=click.IntRange(5), default=14, show_default=True)
@click.option("--warmup", type=click.IntRange(0), default=2, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Keep the self-test's runs here (default: a temporary folder).",
)
@format_option()
@click.pass_context
def selftest(ctx, iters, warmup, out, fmt):
    """Calibration engine through every strategy with known leaks and timings:
    injected vs. measured, pass or fail; exits 1 on any miss. A timing check the host is
    too busy to judge says inconclusive (host busy: ...), which is no failure."""
    # lazy: the study imports the runner (numpy, scipy); --help must not
    from orchestrator.results.checks import checks_table, tally
    from orchestrator.studies.selftest import plan_notes, run_selftest

    with tempfile.TemporaryDirectory(prefix="orch-selftest-") as tmp:
        for note in plan_notes(iters, warmup, Path(out or tmp)):
            click.echo(f"note: {note}", err=True)
        checks = run_selftest(iters, warmup, Path(out or tmp), echo=lambda m: click.echo(m, err=True))
    click.echo(checks_table(checks, fmt))
    click.echo(tally(checks), err=True)
    ctx.exit(ExitCode.FAILED if any(c.failed for c in checks) else ExitCode.OK)
