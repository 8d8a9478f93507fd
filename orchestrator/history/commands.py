"""`orch history` (list runs, `show RUN_ID`) and `orch report RUN_ID|latest`."""

from __future__ import annotations

import json
import os

import click

from orchestrator.errors import OrchError, read_text_file
from orchestrator.tabular import format_option, render_table

DB_HELP = "History database: SQLite file path or postgresql:// URL (default: env ORCH_DB, else the user data dir)."

LIST_HEADERS = ["run_id", "started (UTC)", "kind", "engine", "scenario", "models", "strategy", "status",
                "verdict", "iters", "growth MB/iter", "95% CI", "TTFT ms (p50)", "tok/s (p50)", "soak"]


def _r(v, nd=1):
    return None if v is None else round(v, nd)


def _check_db(db: str | None) -> None:
    """A read needs the database to be there: no folders or empty file made by a typo."""
    from orchestrator.history import store

    why = store.db_problem(db, write=False)
    if why:
        raise OrchError(why)


def _fail(exc: Exception) -> None:
    """The database cannot be opened or read: one line, exit 2."""
    if isinstance(exc, OrchError):
        raise exc
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    raise OrchError(f"cannot read the history database: {first}") from None


def list_rows(found: list[dict]) -> list[list]:
    rows = []
    for run in found:
        started = (run.get("started_at") or "").replace("+00:00", "").replace("T", " ")
        strategies = run.get("results") or [{}]
        for s in strategies:
            ci = (s.get("growth_ci_low"), s.get("growth_ci_high"))
            rows.append([
                run["run_id"], started, run.get("kind"), run.get("engine"), run.get("scenario"),
                run.get("models"), s.get("strategy"), s.get("status", run.get("status")), s.get("verdict"),
                s.get("iters_ok"), _r(s.get("growth_mb_per_iter"), 3),
                f"[{ci[0]:.3f}, {ci[1]:.3f}]" if None not in ci else None,
                _r(s.get("ttft_ms_median")), _r(s.get("tokens_per_s_median")),
                " ".join(x for x in (run.get("matrix_key"), run.get("outcome")) if x) or None,
            ])
    return rows


@click.group(invoke_without_command=True)
@click.option("--db", help=DB_HELP)
@click.option("--strategy", help="Only runs with this strategy (and only its rows).")
@click.option("--engine", help="Only runs on this engine (calibration, chatllm).")
@click.option("--model", help="Only runs whose models contain this text.")
@click.option("--since", help="Only runs started since: 7d, 12h, 30m, 2w, or an ISO date/time (UTC).")
@click.option("--soak", "matrix_key", help="Only soak runs of this matrix key.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="At most this many runs.")
@format_option()
@click.pass_context
def history(ctx, db, strategy, engine, model, since, matrix_key, limit, fmt):
    """List stored runs, newest first (one row per strategy); `history show RUN_ID` for one."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand:
        return
    from orchestrator.history import store

    _check_db(db)
    try:
        found = store.list_runs(db, strategy=strategy, engine=engine, model=model, since=since,
                                matrix_key=matrix_key, limit=limit)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since")
    except Exception as exc:  # the database cannot be opened
        _fail(exc)
    if not found and fmt == "table":
        click.echo("no runs stored" + (" match" if any((strategy, engine, model, since, matrix_key)) else ""),
                   err=True)
        return
    click.echo(render_table(LIST_HEADERS, list_rows(found), fmt))


@history.command("show")
@click.argument("run_id", default="latest")
@click.option("--db", help=DB_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the full result JSON.")
@format_option()
@click.pass_context
def show(ctx, run_id, db, as_json, fmt):
    """One run: its comparison table and facts (RUN_ID, a unique prefix, or `latest`)."""
    result = _load(run_id, db or (ctx.obj or {}).get("db"))
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=1))
        return
    from orchestrator.history.report import table_rows

    headers, rows = table_rows(result)
    if fmt != "table":
        click.echo(render_table(headers, rows, fmt))
        return
    plan, engine = result.get("plan") or {}, result.get("engine") or {}
    click.echo(f"run {result.get('run_id')}  started {result.get('started_at')}  finished {result.get('finished_at')}")
    click.echo(f"engine {engine.get('name')} {json.dumps({k: v for k, v in engine.items() if k != 'name'})}")
    click.echo(f"scenario {plan.get('scenario')}, {plan.get('iters')} iterations, {plan.get('warmup')} warm-up, "
               f"models {', '.join(plan.get('models') or []) or '-'}, audio {plan.get('audio') or '-'}")
    click.echo(render_table(headers, rows, fmt))
    for r in result.get("results") or []:
        if r.get("error"):
            click.echo(f"{r.get('strategy')}: {r.get('status')}: {str(r['error']).splitlines()[0]}")
    soak = result.get("soak")
    if soak:
        click.echo(f"soak {soak.get('matrix_key')}: {soak.get('outcome')}")
        for reg in soak.get("regressions") or []:
            click.echo(f"  regression: {reg.get('message')}")


def _load(run_id: str, db: str | None) -> dict:
    from orchestrator.history import store

    if run_id.endswith(".json") and os.path.isfile(run_id):  # a run.json on disk
        try:
            result = json.loads(read_text_file(run_id, "run file"))
        except json.JSONDecodeError as exc:
            raise OrchError(f"run file {run_id} is not JSON: {exc}") from None
        if not isinstance(result, dict) or not isinstance(result.get("results", []), list):
            raise OrchError(f"run file {run_id} is not an orch result (schema orch.run/1)")
        return result
    _check_db(db)
    try:
        return store.load_run(run_id, db)
    except store.RunNotFound as exc:
        raise OrchError(str(exc)) from None
    except Exception as exc:
        _fail(exc)


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
@click.option("--html", "html_path", type=click.Path(dir_okay=False),
              help="Write a self-contained HTML report (charts embedded) here.")
@click.option("--md", "md_path", type=click.Path(dir_okay=False), help="Write the comparison table as Markdown.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write the comparison table as CSV.")
@format_option()
def report(run_id, db, html_path, md_path, csv_path, fmt):
    """Report on a stored run (RUN_ID, a unique prefix, `latest`, or a run.json file):
    HTML with memory and timing charts, Markdown/CSV tables; with no file option, print
    the comparison table."""
    from orchestrator.history import report as rep

    result = _load(run_id, db)
    if html_path:
        _write(html_path, rep.render_html(result))
    if md_path:
        _write(md_path, rep.render_markdown(result))
    if csv_path:
        _write(csv_path, rep.render_csv(result))
    if not (html_path or md_path or csv_path):
        headers, rows = rep.table_rows(result)
        click.echo(render_table(headers, rows, fmt))
