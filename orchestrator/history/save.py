"""Storing a finished `run` / `compare` / `load` in the history database, for the commands that
made it: a database problem is a warning there, never a failed run (the result is on disk
already). `orch soak` stores through store.save_run itself: for it a run that is not
stored is a failed cell."""

from __future__ import annotations

import click

from orchestrator.results.load_run import LoadRun
from orchestrator.results.model import RunResult


def where_stored(stored: bool, run_id: str | None) -> str:
    """The end of a write failure's line (a full disk): whether the run reached the history."""
    return f"the run in the history database as {run_id}" if stored else "not stored in the history database"


def store_history(result: RunResult, db: str | None) -> bool:
    """Store `result`; False (and a warning on stderr) when it could not be stored."""
    try:
        from orchestrator.history.store import save_run
    except ImportError as exc:  # SQLAlchemy missing from this install
        click.echo(f"warning: no history database ({exc}); the run is not stored", err=True)
        return False
    try:
        save_run(result, db)
    except Exception as exc:  # the run is on disk already; say so and go on
        click.echo(f"warning: could not store the run in the history database: {exc}", err=True)
        return False
    return True


def store_load_history(run: LoadRun, db: str | None) -> bool:
    """Store an `orch load` run, as store_history a run: False (and a warning) when it could not be."""
    try:
        from orchestrator.history.store import save_load_run
    except ImportError as exc:  # SQLAlchemy missing from this install
        click.echo(f"warning: no history database ({exc}); the run is not stored", err=True)
        return False
    try:
        save_load_run(run, db)
    except Exception as exc:  # the run is on disk already; say so and go on
        click.echo(f"warning: could not store the run in the history database: {exc}", err=True)
        return False
    return True
