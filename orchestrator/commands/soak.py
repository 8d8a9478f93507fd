"""`orch soak --config FILE`: the command line of a soak (orchestrator.studies.soak): read
the config, check every cell, run the matrix, print each cell (history.soak_output), exit
with what it found (errors.ExitCode: 0 fine, 3 regression, 1 failed, 2 nothing ran, 130
Ctrl-C (143 SIGTERM, 129 SIGHUP: the same))."""

from __future__ import annotations

import click

from orchestrator import stop_signals
from orchestrator.results.tabular import format_option


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False), help="Soak matrix (TOML).")
@click.option(
    "--db",
    help="History database (SQLite path or postgresql:// URL); default: env ORCH_DB, "
    "the config's `db`, else the user data dir.",
)
@click.option(
    "--prometheus",
    "prom_path",
    type=click.Path(dir_okay=False),
    help="Write a node-exporter textfile-collector file here (atomically).",
)
@click.option(
    "--baseline-runs",
    type=click.IntRange(1),
    default=None,
    help="Earlier good runs of the same matrix key to compare with (config: baseline_runs, default 5).",
)
@click.option(
    "--ttft-pct",
    type=click.FloatRange(0),
    default=None,
    help="Median TTFT slower by more than this %% (and significant) regresses (default 10).",
)
@click.option(
    "--alpha",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=None,
    help="Significance level of the TTFT test (default 0.05).",
)
@click.option(
    "--accept", is_flag=True, help="Store this run as a good baseline even if it regressed (after an intended change)."
)
@click.option(
    "--attribute",
    is_flag=True,
    help="When a run regresses or brings a change point, re-run its growing strategies under "
    "the tracer and keep the call stacks that hold the growth (orch attribute; config: attribute).",
)
@format_option()
@click.pass_context
def soak(ctx, config_path, db, prom_path, baseline_runs, ttft_pct, alpha, accept, attribute, fmt):
    """Run a soak matrix, store it, compare with the baseline; exit 0 fine, 3 regression, 1 failed."""
    # lazy: the soak pulls in the runner and the history (numpy, scipy, SQLAlchemy); --help must not
    from orchestrator.history import soak_output
    from orchestrator.run.preflight import input_problems
    from orchestrator.studies import soak as study
    from orchestrator.studies import soak_load

    cfg = study.load_config(config_path)  # ConfigError / CannotStart: exit 2, nothing has run
    cells = study.expand_indexed(cfg)
    db, db_source = study.which_db(db, cfg, config_path)
    plans, keys, notes = study.cell_plans(cfg, cells, config_path, db, db_source)  # CannotStart: exit 2
    for key, cell_notes in zip(keys, notes, strict=True):
        for note in cell_notes:
            click.echo(f"note: {key}: {note}", err=True)
    # the inputs of every cell, checked before the first one runs; a cell that cannot start
    # is a failed run (exit 1, and in the metrics), the others still run
    inputs = [
        soak_load.input_problems(plan) if isinstance(plan, soak_load.LoadCellPlan) else input_problems(plan)
        for plan in plans
    ]
    for key, found in zip(keys, inputs, strict=True):
        for problem in found:
            click.echo(f"error: {key}: cannot start: {problem}", err=True)
    settings = study.settings_from(cfg, baseline_runs, ttft_pct, alpha, accept, attribute)

    def started(key, plan):
        if isinstance(plan, soak_load.LoadCellPlan):
            click.echo(f"soak {key}: running {plan.description}", err=True)
            return
        click.echo(
            f"soak {key}: running {', '.join(plan.strategies)} ({plan.iters} iterations, {plan.warmup} warm-up)",
            err=True,
        )

    def done(run, inputs_named):
        for line, to_stderr in soak_output.cell_lines(run, fmt, inputs_named):
            click.echo(line, err=to_stderr)

    with study.soak_lock(cfg):
        try:
            runs = study.run_matrix(cfg, cells, plans, keys, inputs, db, settings, started, done)
        except study.SoakInterrupted as stop:
            kept = "load.json" if isinstance(stop.plan, soak_load.LoadCellPlan) else "run.json"
            line = soak_output.interrupted_line(
                cfg["name"], len(stop.runs), len(cells), stop.key, stop.plan.run_dir / kept
            )
            click.echo(line, err=True)
            ctx.exit(stop_signals.exit_code())
        study.write_prometheus(prom_path or cfg.get("prometheus"), runs)
    for line in soak_output.summary_lines(cfg["name"], runs):
        click.echo(line, err=True)
    ctx.exit(study.exit_code(runs))
