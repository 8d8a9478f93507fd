"""A finished (or interrupted) load run as it is kept: the runner's result JSON
(`<run dir>/load.json`, written by the runner before Ctrl-C goes on up) read back as a
typed LoadRun (orchestrator.results.load_run), given a run_id, its start and end times
and the host it ran on, and written back in place (and to `--json`), ready for the
history database. Reading the file, not the runner's object, is what lets an interrupted
run be kept too: the runner raises KeyboardInterrupt after writing it."""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.results.atomic import write_text_atomic
from orchestrator.results.load_run import LoadRun
from orchestrator.run import hostinfo
from orchestrator.run.plan import new_run_id

RESULT_FILE = "load.json"


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Started:
    """When a load run started and the host as it was then (its load average before the
    run's own work: `host.load_avg_start`)."""

    at: str
    host: dict


def start() -> Started:
    return Started(now_iso(), hostinfo.host_facts())


def keep(
    run_dir: Path,
    started: Started,
    copy_to: Path | None = None,
    run_id: str | None = None,
    unwritten: dict | None = None,
) -> LoadRun | None:
    """The run in `run_dir` with its run_id, times and host, written back (and to `copy_to`);
    None when the runner wrote no result (it could not start). `unwritten`: the runner's
    result JSON that a full disk kept off the file, kept from memory (for the history) and
    not written back."""
    path = Path(run_dir) / RESULT_FILE
    if unwritten is None and not path.is_file():
        return None
    data = unwritten if unwritten is not None else json.loads(path.read_text(encoding="utf-8"))
    run = LoadRun.from_json(data)
    run.run_id = run_id or new_run_id()
    run.started_at, run.finished_at = started.at, now_iso()
    run.host = {**started.host, "load_avg_end": hostinfo.load_average()}
    if unwritten is None:
        write(run_dir, run, copy_to)
    return run


def write(run_dir: Path, run: LoadRun, copy_to: Path | None = None) -> None:
    """`<run dir>/load.json` (and `copy_to`) as the run is now (a soak adds its block)."""
    text = json.dumps(run.to_json(), indent=2, ensure_ascii=False) + "\n"
    write_text_atomic(Path(run_dir) / RESULT_FILE, text)
    if copy_to is not None:
        write_text_atomic(Path(copy_to), text)
