"""One `orch load` run from its plan to its kept result: the runner (orchestrator.load.runner)
runs the levels, the result is kept in the run's folder with its run id, times and host
(load.record.keep; and copied to --json) and stored in the history database. `orch load`
and `orch ab --load` (each side) run here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import ExitCode, OrchError
from orchestrator.history.save import store_load_history, where_stored
from orchestrator.load import record
from orchestrator.load.levels import RequestRecord
from orchestrator.load.plan import LoadPlan
from orchestrator.load.runner import LoadResult, LoadWriteFailed, execute
from orchestrator.results.load_run import LoadRun


class LoadInterrupted(Exception):
    """Ctrl-C, SIGTERM or SIGHUP: every finished request is written and the result kept
    (`kept`: None when the runner wrote none)."""

    def __init__(self, kept: LoadRun | None):
        super().__init__("interrupted")
        self.kept = kept


class LoadNotWritten(OrchError):
    """A full disk stopped the run (load.runner.LoadWriteFailed): the run was kept from memory
    (its JSON may not be on disk) and stored; one line naming the file and what was kept, exit 1."""


def run(
    plan: LoadPlan,
    copy_to: Path | None = None,
    db: str | None = None,
    store: bool = True,
    on_record: Callable[[RequestRecord], None] | None = None,
) -> tuple[LoadResult, LoadRun | None]:
    """Run the plan; its result and the run as kept (None: the runner wrote no result).
    pool.StartFailed goes on up; a stop signal is LoadInterrupted, after the run is kept; a
    full disk is LoadNotWritten, after the run is kept from memory and stored."""
    started = record.start()  # the host's load average before the run
    try:
        result = execute(plan, on_record=on_record)
    except LoadWriteFailed as failed:
        kept = record.keep(plan.run_dir, started, unwritten=failed.result.to_json())
        stored = kept is not None and store and store_load_history(kept, db)
        where = where_stored(bool(stored), kept.run_id if kept else None)
        raise LoadNotWritten(f"{failed.message}; {where}", ExitCode.FAILED) from None
    except KeyboardInterrupt:
        raise LoadInterrupted(keep(plan.run_dir, started, copy_to, db, store)) from None
    return result, keep(plan.run_dir, started, copy_to, db, store)


def keep(run_dir: Path, started: record.Started, copy_to: Path | None, db: str | None, store: bool) -> LoadRun | None:
    """The run as kept (load.record.keep: run_id, times, host; the copy), stored in the
    history when `store`; a database problem is a warning, as for `orch run`."""
    kept = record.keep(run_dir, started, copy_to)
    if kept is not None and store:
        store_load_history(kept, db)
    return kept
