"""What `orch soak` prints: each cell's table, notes, regressions, change points and failure;
the soak's sum; the line a Ctrl-C leaves. Lines come back as (text, to stderr) for the
command to print (orchestrator.commands.soak)."""

from __future__ import annotations

from orchestrator import stop_signals
from orchestrator.history.soak_cell import CellRun
from orchestrator.history.tables import RUN_LEVEL_HEADERS, run_level_rows
from orchestrator.results.model import Outcome
from orchestrator.results.output import HEADERS, result_rows, verdict_notes
from orchestrator.results.tabular import render_table


def cell_lines(run: CellRun, fmt: str, inputs_named: bool) -> list[tuple[str, bool]]:
    """What is printed of a cell, as (line, to stderr): the cell's table (stdout) with the
    verdict notes run/compare print under it, its notes (stderr), each regression (both) and
    its failure (stdout; stderr too unless its input problems were named before the first
    cell ran)."""
    out: list[tuple[str, bool]] = []
    key = run.matrix_key
    if run.result is not None:
        if fmt == "table":
            out.append((f"== {key}  run {run.result.run_id}  outcome {run.outcome}", False))
        out.append((render_table(HEADERS, result_rows(run.result), fmt), False))
        # under the table as run/compare print them; stderr when stdout is data (json, csv)
        for line in verdict_notes(run.result):
            out.append((line if fmt == "table" else f"note: {key}: {line}", fmt != "table"))
    if run.load is not None:  # a load cell: its level's row (history.tables)
        if fmt == "table":
            out.append((f"== {key}  run {run.load.run_id}  outcome {run.outcome}", False))
        out.append((render_table(RUN_LEVEL_HEADERS, run_level_rows(run.load), fmt), False))
    for note in run.notes:
        out.append((f"note: {key}: {note}", True))
    for reg in run.regressions:
        out.append((f"REGRESSION {key}: {reg.message}", False))
        out.append((f"regression: {key}: {reg.message}", True))
    for change in run.changes or []:
        out.append((f"CHANGE {key}: {change.message()}", False))
        out.append((f"change point: {key}: {change.message()}", True))
    for text in run.attribution:
        out.append((text, False))
    if run.error:
        out.append((f"FAILED {key}: {run.error}", False))
        if not inputs_named:
            out.append((f"error: {key}: {run.error}", True))
    return out


def summary_lines(name: str, runs: list[CellRun]) -> list[str]:
    """The soak's sum (stderr): how many runs failed, else regressed or brought change points."""
    failed = [r for r in runs if r.outcome is Outcome.FAILED]
    regressed = [r for r in runs if r.outcome is Outcome.REGRESSION]
    changed = [r for r in runs if r.changes]
    if failed:
        return [f"soak {name}: {len(failed)} of {len(runs)} run(s) failed"]
    out = []
    if regressed:
        n = sum(len(r.regressions) for r in regressed)
        out.append(f"soak {name}: {n} regression(s) in {len(regressed)} of {len(runs)} run(s)")
    if changed:
        n = sum(len(r.changes or []) for r in changed)
        out.append(f"soak {name}: {n} new change point(s) in {len(changed)} of {len(runs)} run(s)")
    return out or [f"soak {name}: {len(runs)} run(s), no regression"]


def interrupted_line(name: str, finished: int, cells: int, key: str, run_json) -> str:
    """Ctrl-C (SIGTERM, SIGHUP) during cell `key`: the finished cells are stored, the one cut short is not."""
    return (
        f"soak {name}: interrupted ({stop_signals.reason()}) during {key}: {finished} of {cells} run(s) finished and stored; "
        f"what {key} measured is in {run_json}, not stored"
    )
