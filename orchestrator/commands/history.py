"""`orch history` (list runs, `show RUN_ID`, `changes`, `load`) and `orch report RUN_ID|latest`
(a load run's too: orchestrator.results.load_run)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, NoReturn

import click

from orchestrator.errors import OrchError, read_text_file
from orchestrator.history import tables
from orchestrator.results.load_run import LoadRun, is_load_document
from orchestrator.results.model import ResultError, RunResult
from orchestrator.results.output import HEADERS, result_rows
from orchestrator.results.tabular import format_option, render_table

if TYPE_CHECKING:
    pass

DB_HELP = "History database: SQLite file path or postgresql:// URL (default: env ORCH_DB, else the user data dir)."


def _check_db(db: str | None) -> None:
    """A read needs the database to be there: no folders or empty file made by a typo."""
    # lazy: SQLAlchemy; --help must not import it
    from orchestrator.history import store

    why = store.db_problem(db, write=False)
    if why:
        raise OrchError(why)


def _fail(exc: Exception) -> NoReturn:
    """The database cannot be opened or read: one line, exit 2."""
    if isinstance(exc, OrchError):
        raise exc
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    raise OrchError(f"cannot read the history database: {first}") from None


@click.group(invoke_without_command=True)
@click.option("--db", help=DB_HELP)
@click.option("--strategy", help="Only runs with this strategy (and only its rows).")
@click.option("--engine", help="Only runs on this engine (`orch engines` lists them).")
@click.option("--model", help="Only runs whose models contain this text.")
@click.option("--since", help="Only runs started since: 7d, 12h, 30m, 2w, or an ISO date/time (UTC).")
@click.option("--soak", "matrix_key", help="Only soak runs of this matrix key.")
@click.option("--host", help="Only runs on this host (its hostname, as the host column shows it).")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="At most this many runs.")
@format_option()
@click.pass_context
def history(ctx, db, strategy, engine, model, since, matrix_key, host, limit, fmt):
    """List stored runs, newest first (one row per strategy); `history show RUN_ID` for one."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand:
        return
    # lazy: SQLAlchemy; --help must not import it
    from orchestrator.history import store

    _check_db(db)
    try:
        found = store.list_runs(
            db,
            strategy=strategy,
            engine=engine,
            model=model,
            since=since,
            matrix_key=matrix_key,
            limit=limit,
            host=host,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    except Exception as exc:  # the database cannot be opened
        _fail(exc)
    if not found and fmt == "table":
        click.echo(
            "no runs stored" + (" match" if any((strategy, engine, model, since, matrix_key, host)) else ""), err=True
        )
        return
    click.echo(render_table(tables.LIST_HEADERS, tables.list_rows(found), fmt))


@history.command("show")
@click.argument("run_id", default="latest")
@click.option("--db", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the full result JSON.")
@format_option()
@click.pass_context
def show(ctx, run_id, db, as_json, fmt):
    """One run: its comparison table and facts (RUN_ID, a unique prefix, or `latest`; a load
    run: its levels)."""
    result = _load(run_id, db or (ctx.obj or {}).get("db"))
    if as_json:
        click.echo(json.dumps(result.to_json(), ensure_ascii=False, indent=1))
        return
    if isinstance(result, LoadRun):
        _show_load(result, fmt)
        return
    headers, rows = list(HEADERS), result_rows(result)
    if fmt != "table":
        click.echo(render_table(headers, rows, fmt))
        return
    click.echo(tables.run_facts(result))
    click.echo(render_table(headers, rows, fmt))
    for r in result.results:
        if r.error:
            click.echo(f"{r.strategy}: {r.status}: {r.error.splitlines()[0]}")
    if result.soak is not None:
        click.echo(f"soak {result.soak.matrix_key}: {result.soak.outcome}")
        for reg in result.soak.regressions:
            click.echo(f"  regression: {reg.message}")


def _show_load(run: LoadRun, fmt: str) -> None:
    table = render_table(tables.RUN_LEVEL_HEADERS, tables.run_level_rows(run), fmt)
    if fmt != "table":
        click.echo(table)
        return
    click.echo(tables.load_facts(run))
    click.echo(table)
    for level, note in tables.level_notes(run):
        click.echo(f"{level}: {note}")
    if run.soak is not None:
        click.echo(f"soak {run.soak.matrix_key}: {run.soak.outcome}")
        for alarm in run.alarms:
            click.echo(f"  alarm: {alarm.message}")


@history.command("load")
@click.option("--db", help=DB_HELP)
@click.option("--engine", help="Only runs on this engine (`orch engines` lists them).")
@click.option("--model", help="Only runs whose models contain this text.")
@click.option("--since", help="Only runs started since: 7d, 12h, 30m, 2w, or an ISO date/time (UTC).")
@click.option("--soak", "matrix_key", help="Only soak runs of this matrix key.")
@click.option("--host", help="Only runs on this host (its hostname).")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="At most this many runs.")
@format_option()
@click.pass_context
def load_levels(ctx, db, engine, model, since, matrix_key, host, limit, fmt):
    """Stored load runs (orch load, a soak's load cells), newest first, one row per level:
    throughput, goodput, p99s, saturation, validity, the pool's memory per 1000 requests."""
    # lazy: SQLAlchemy; --help must not import it
    from orchestrator.history import store

    db = db or (ctx.obj or {}).get("db")
    _check_db(db)
    try:
        found = store.list_load_levels(
            db, engine=engine, model=model, since=since, host=host, matrix_key=matrix_key, limit=limit
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    except Exception as exc:  # the database cannot be opened
        _fail(exc)
    if not found and fmt == "table":
        click.echo(
            "no load runs stored" + (" match" if any((engine, model, since, matrix_key, host)) else ""), err=True
        )
        return
    click.echo(render_table(tables.LOAD_HEADERS, tables.load_rows(found), fmt))
    if fmt == "table":
        for line in tables.load_floor_lines(found):
            click.echo(line)


@history.command("changes")
@click.option("--db", help=DB_HELP)
@click.option(
    "--since",
    help="Only change points from runs started since: 7d, 12h, 2w, or an ISO date/time (UTC); "
    "each series is still read whole.",
)
@click.option("--soak", "matrix_key", help="Only this soak matrix key.")
@click.option("--host", help="Only this host's series (its hostname).")
@click.option("--strategy", help="Only this strategy.")
@click.option(
    "--metric",
    type=click.Choice(["growth_mb_per_iter", "ttft_ms_median", "tokens_per_s_median", "cer_mean"]),
    help="Only this figure.",
)
@click.option(
    "--min-size",
    type=click.IntRange(2),
    default=5,
    show_default=True,
    help="Runs needed on each side of a change (fewer is a blip, not a change).",
)
@click.option(
    "--max-pvalue",
    type=click.FloatRange(0, 1, min_open=True),
    default=1e-4,
    show_default=True,
    help="A change is kept when Chow's test at it gives p below this.",
)
@format_option()
@click.pass_context
def changes(ctx, db, since, matrix_key, host, strategy, metric, min_size, max_pvalue, fmt):
    """Change points in the soak history: per host, matrix key, strategy and figure (growth
    per iteration, median TTFT, tokens/s, CER), the run where a lasting change began, what
    the figure was before and after, how sure, and the engine builds on either side
    (docs/history.md, "Change points"). Grouped by host, newest first within each."""
    # lazy: SQLAlchemy; --help must not import it
    from orchestrator.history import changepoints as cp
    from orchestrator.history import store

    db = db or (ctx.obj or {}).get("db")
    _check_db(db)
    settings = cp.Settings(min_size=min_size, max_pvalue=max_pvalue)
    try:
        store.parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None
    try:
        found = cp.find_changes(
            db, since=since, matrix_key=matrix_key, strategy=strategy, metric=metric, settings=settings, host=host
        )
    except Exception as exc:  # the database cannot be opened
        _fail(exc)
    if not found and fmt == "table":
        click.echo(
            "no change points" + (" match" if any((since, matrix_key, host, strategy, metric)) else ""), err=True
        )
        return
    click.echo(render_table(tables.CHANGE_HEADERS, tables.change_rows(found, cp.METRICS), fmt))


def _load(run_id: str, db: str | None) -> RunResult | LoadRun:
    """A run.json (or a load run's load.json) on disk, else the stored run (a run_id, a
    unique prefix, `latest`); what is no orch result is one OrchError line (exit 2)."""
    # lazy: SQLAlchemy; --help must not import it
    from orchestrator.history import store

    if run_id.endswith(".json") and os.path.isfile(run_id):
        return _load_file(run_id)
    _check_db(db)
    try:
        return store.load_any(run_id, db)
    except (store.RunNotFound, ResultError) as exc:
        raise OrchError(str(exc)) from None
    except Exception as exc:
        _fail(exc)


def _soak_history(result: RunResult | LoadRun, db: str | None) -> list | None:
    """A soak run's key's series on its host (changepoints.history_series), or None (not a
    soak's run; the history cannot be read: said on stderr, the page is made without it)."""
    if isinstance(result, LoadRun) or result.soak is None or not result.soak.matrix_key:
        return None
    # lazy: SQLAlchemy; --help must not import it
    from orchestrator.history import changepoints as cp
    from orchestrator.history import store

    host = store.hostname_of(result.host)
    why = store.db_problem(db, write=False)
    if why is None:
        try:
            found = cp.history_series(db, matrix_key=result.soak.matrix_key, host=host)
            return [s for s in found if s.host == host]  # a run with no hostname: the rows with none
        except Exception as exc:
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    click.echo(f"soak history not drawn: {why}", err=True)
    return None


def _load_file(path: str) -> RunResult | LoadRun:
    try:
        data = json.loads(read_text_file(path, "run file"))
    except json.JSONDecodeError as exc:
        raise OrchError(f"run file {path} is not JSON: {exc}") from None
    try:
        if is_load_document(data):
            return LoadRun.from_json(data)
        return RunResult.from_json(data)
    except (ResultError, TypeError, KeyError, AttributeError) as exc:  # ResultError names the key
        raise OrchError(f"run file {path} is not an orch result: {exc}") from None


def _write(path: str, text: str) -> None:
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise OrchError(f"cannot write {path}: {exc.strerror or exc}") from None
    click.echo(f"wrote {path}", err=True)


@click.command()
@click.argument("run_id", default="latest")
@click.option("--db", help=DB_HELP)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Write a self-contained HTML report (charts embedded) here.",
)
@click.option("--md", "md_path", type=click.Path(dir_okay=False), help="Write the comparison table as Markdown.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the comparison table as CSV.")
@format_option()
def report(run_id, db, html_path, md_path, csv_path, fmt):
    """Report on a stored run (RUN_ID, a unique prefix, `latest`, or a run.json file):
    HTML with memory and timing charts (a soak's run: also its key's history on its host,
    change points marked), Markdown/CSV tables; with no file option, print the comparison
    table."""
    # lazy: SQLAlchemy; --help must not import it
    from orchestrator.history import load_report
    from orchestrator.history import report as rep

    result = _load(run_id, db)
    if isinstance(result, LoadRun):  # a load run: its levels, latency/throughput/memory charts
        if html_path:
            _write(html_path, load_report.render_html(result))
        if md_path:
            _write(md_path, load_report.render_markdown(result))
        if csv_path:
            _write(csv_path, load_report.render_csv(result))
        if not (html_path or md_path or csv_path):
            click.echo(render_table(*load_report.table_rows(result), fmt))
        return
    if html_path:
        _write(html_path, rep.render_html(result, history=_soak_history(result, db)))
    if md_path:
        _write(md_path, rep.render_markdown(result))
    if csv_path:
        _write(csv_path, rep.render_csv(result))
    if not (html_path or md_path or csv_path):
        headers, rows = rep.table_rows(result)
        click.echo(render_table(headers, rows, fmt))
