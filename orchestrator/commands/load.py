"""Put an engine x strategy under load as a small service and measure what its users see.

N long-lived workers pull requests from one queue; requests arrive at a rate (constant,
poisson, gamma) or a concurrency. Per level: latency percentiles, throughput, goodput under
an SLO, saturation, memory per 1000 requests (docs/load.md). Every request is written to
<out>/load-<time>/requests.jsonl as it ends.

The target is worker processes (an engine x strategy), or with --url a server's OpenAI-style
/v1/audio/transcriptions on this host (--serve-cmd starts it, --pid samples one running).

The result (`<run dir>/load.json`, and `--json PATH`) is stored in the history database as
`orch run` stores its runs (`--db`, `--no-history`; docs/history.md).

Exit codes: 0 every request ok, 1 a request failed or timed out (or the pool's memory guard
stopped it), 2 could not start (bad option, missing input, a server that did not answer),
130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (every finished request is written first, and the result JSON with
`interrupted: true`, stored too).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from orchestrator.commands import load_options, startup_problems
from orchestrator.commands.load_options import SERVE_STRATEGIES
from orchestrator.errors import ExitCode, OrchError

__all__ = ["SERVE_STRATEGIES", "load"]


@click.command("load")
@load_options.decorate
def load(**kw):
    """Put an engine x strategy under load as a small service and measure what its users see."""
    ctx = click.get_current_context()
    given = {n for n in kw if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE}
    flags = {param.name: param.opts[0] for param in ctx.command.params if param.name}
    if kw["engines"] is not None:
        _run_engines(kw, *load_options.engine_plans(kw, given, flags, startup_problems.take()))
        return
    plan, notes = load_options.plan_from(kw, given, flags, startup_problems.take())
    for note in notes:
        click.echo(f"note: {note}")
    _run(kw, plan)


def _run_engines(kw, run_dir: Path, plans) -> None:
    """`--engines`: each engine's study in turn (studies.load_engines), each one's answer,
    then the table across engines; exit 1 when an engine failed."""
    from orchestrator.results import load_engines as engines_table
    from orchestrator.studies import load_engines

    for item in plans:
        for note in item.notes:
            click.echo(f"note: {item.label}: {note}")
    copy_to = Path(kw["json_path"]) if kw["json_path"] else None
    try:
        done = load_engines.run(plans, run_dir, copy_to, kw["db"], not kw["no_history"], echo=click.echo)
    except load_engines.EnginesInterrupted as stopped:
        click.echo(engines_table.table(stopped.done.rows))
        click.echo(f"\norch load: interrupted; what was measured is in {run_dir}", err=True)
        raise KeyboardInterrupt from None
    for row in done.rows:
        if row.run is not None:
            click.echo(f"{row.label}: {row.run.max_rate_line()}")
        if row.error:
            click.echo(f"orch: {row.label}: {row.error}", err=True)
    click.echo(engines_table.table(done.rows))
    click.echo(f"results: {run_dir}  ({load_engines.SUMMARY_FILE}; <engine>/load.json: each engine's run)")
    sys.exit(ExitCode.FAILED if load_engines.failed(done) else ExitCode.OK)


def _run(kw, plan) -> None:
    """Run the plan (studies.load: kept, stored), print its table and exit with its code."""
    from orchestrator.load.pool import StartFailed
    from orchestrator.results.load_run import LoadRun
    from orchestrator.studies import load as load_study

    server = plan.server
    if server:
        how = "started by orch" if server.serve_cmd else f"pid {server.pid}" if server.pid else "not sampled"
        what = f"{server.url} ({how}) x {plan.pool.workers} connection(s)"
    else:
        cfg = plan.pool.worker_config
        what = f"{cfg.engine} x {cfg.strategy} x {plan.pool.workers} worker(s)"
    click.echo(f"orch load: {what}; requests in {plan.run_dir}")

    def progress(rec) -> None:
        if sys.stdout.isatty():
            click.echo(f"\r  request {rec.i} {rec.status}   ", nl=False)

    copy_to = Path(kw["json_path"]) if kw["json_path"] else None
    try:
        result, kept = load_study.run(plan, copy_to, kw["db"], not kw["no_history"], on_record=progress)
    except StartFailed as exc:
        raise OrchError(f"cannot start: {exc}") from None
    except load_study.LoadInterrupted:
        requests = plan.run_dir / "requests.jsonl"
        click.echo(f"\norch load: interrupted; every finished request is in {requests}", err=True)
        raise KeyboardInterrupt from None
    click.echo(load_options.table(result))
    if kept is not None:
        click.echo(f"run {kept.run_id}: {plan.run_dir / 'load.json'}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.error:
        click.echo(f"orch: {result.error}", err=True)
    elif why := _failed_requests(result):
        click.echo(f"orch: {why}", err=True)
    if result.caching:
        click.echo(f"caching check: {result.caching['why']}")
    click.echo((kept or LoadRun.from_json(result.to_json())).max_rate_line())  # the run's answer, last
    drifted = any((lv.drift_under_load or {}).get("drifted") for lv in result.levels)
    bad = result.error or drifted or any(lv.failed or lv.timed_out for lv in result.levels)
    sys.exit(ExitCode.FAILED if bad else ExitCode.OK)


def _failed_requests(result) -> str | None:
    """The exit-1 reason when requests failed or timed out: how many, and the first one's
    error (read back from the JSONL; the table only counts them)."""
    bad = sum(lv.failed + lv.timed_out for lv in result.levels)
    if not bad:
        return None
    sent = sum(lv.sent for lv in result.levels)
    first = None
    try:
        with open(result.records_path, encoding="utf-8") as f:
            for line in f:
                rec = json.loads(line)
                if rec.get("status") in ("failed", "timed_out") and rec.get("error"):
                    first = rec["error"]
                    break
    except (OSError, ValueError):
        pass
    return f"{bad} of {sent} request(s) failed or timed out" + (f"; the first: {first}" if first else "")
