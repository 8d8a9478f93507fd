"""`orch load --engines A,B` (orchestrator.commands.load): the load study once per engine, one
after another, each through studies.load as `orch load --engine E` runs it (its plan built as
that command builds it, kept in its own folder `<run dir>/<label>/load.json` with its
requests.jsonl and stored in the history), then one table across engines
(results.load_engines) and one summary, `<run dir>/engines.json` (and `--json PATH`), whose
`engines` section has a row's figures per engine.

An engine that cannot start (its workers fail to load) is an error row and the next engine
still runs; Ctrl-C stops the study after writing what was measured."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.load.plan import LoadPlan
from orchestrator.load.pool import StartFailed
from orchestrator.results import load_engines
from orchestrator.results.atomic import write_text_atomic
from orchestrator.results.load_engines import EngineLoadRow
from orchestrator.results.load_run import LoadRun
from orchestrator.studies import load as load_study

SUMMARY_FILE = "engines.json"
SCHEMA = "orch.load-engines/1"


@dataclass
class EnginePlan:
    """One engine's load study, planned: its label (the engine's name; `NAME-2` for its second
    run), its model and its plan (its run folder under the study's)."""

    label: str
    engine: str
    model: str | None
    plan: LoadPlan
    notes: list[str] = field(default_factory=list)


@dataclass
class EnginesRun:
    run_dir: Path
    rows: list[EngineLoadRow]
    interrupted: bool = False

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "run_dir": str(self.run_dir),
            "interrupted": self.interrupted,
            "engines": [load_engines.to_json(r) for r in self.rows],
        }


class EnginesInterrupted(Exception):
    """Ctrl-C during an engine's study: what was measured is written (`done`)."""

    def __init__(self, done: EnginesRun):
        super().__init__("interrupted")
        self.done = done


def labels(engines: list[str]) -> list[str]:
    """Each run's label: the engine's name, `NAME-k` for its k-th run when named again."""
    out = []
    for k, name in enumerate(engines):
        seen = engines[:k].count(name)
        out.append(name if not seen else f"{name}-{seen + 1}")
    return out


def _one(item: EnginePlan, db: str | None, store: bool, on_record) -> EngineLoadRow:
    """One engine's study, as `orch load` runs it; a pool that cannot start is an error row."""
    row = EngineLoadRow(item.label, item.engine, item.model, None, run_dir=str(item.plan.run_dir))
    try:
        result, kept = load_study.run(item.plan, None, db, store, on_record=on_record)
    except StartFailed as exc:
        row.error = f"cannot start: {exc}"
        return row
    except load_study.LoadInterrupted as exc:
        row.run, row.error = exc.kept, "interrupted"
        raise _Stopped(row) from None
    row.run = kept or LoadRun.from_json(result.to_json())
    row.error = result.error
    return row


class _Stopped(Exception):
    def __init__(self, row: EngineLoadRow):
        super().__init__("interrupted")
        self.row = row


def run(
    plans: list[EnginePlan],
    run_dir: Path,
    copy_to: Path | None = None,
    db: str | None = None,
    store: bool = True,
    echo: Callable[[str], None] = lambda text: None,
    on_record=None,
) -> EnginesRun:
    """Every engine's study in turn; the summary written after each (an interrupted study
    keeps what was measured). EnginesInterrupted on Ctrl-C, after the summary."""
    done = EnginesRun(run_dir, [])
    for item in plans:
        echo(
            f"orch load --engines: {item.label} ({len(done.rows) + 1} of {len(plans)}): requests in {item.plan.run_dir}"
        )
        try:
            done.rows.append(_one(item, db, store, on_record))
        except _Stopped as stopped:
            done.rows.append(stopped.row)
            done.interrupted = True
            write(done, copy_to)
            raise EnginesInterrupted(done) from None
        write(done, copy_to)
    return done


def write(done: EnginesRun, copy_to: Path | None) -> None:
    """The summary in the run folder, and at --json."""
    text = json.dumps(done.to_json(), indent=2, ensure_ascii=False) + "\n"
    done.run_dir.mkdir(parents=True, exist_ok=True)
    for path in [done.run_dir / SUMMARY_FILE, *([copy_to] if copy_to else [])]:
        write_text_atomic(Path(path), text)


def failed(done: EnginesRun) -> bool:
    """An engine that did not start, hit its memory guard, had a request fail or time out, or
    a text drift under load: exit 1, as `orch load` for one engine."""
    return any(
        r.run is None or r.error or any(lv.failed or lv.timed_out or lv.drifted for lv in r.run.levels)
        for r in done.rows
    )
