"""Attribution (`orch attribute`, orchestrator.commands.attribute; run/compare/soak
--attribute): re-run one strategy's worker under a native allocation tracer (memray
`run --native`) and name the call stacks whose memory, allocated in one iteration, is still
live at the end of the run — MiB per iteration per stack, top N — with the fraction of the
sampler's measured growth they explain and the rest as "unattributed".

How (docs/attribution.md):
  - the worker is the same `python -m workers.main`, started as
    `python -m memray run --native -o CAPTURE -m workers.main …` (same process, same pid, so
    the sampler and the phase marks work as in any run);
  - the phase marks' wall-clock times (worker_events.EventLoop.marks) split the capture into
    iterations: iteration k runs from its first mark to the next iteration's first mark;
  - memray's temporal records give, per stack, when each allocation was made and freed
    (to its 10 ms snapshot); an allocation counts for iteration k when it was made in k and
    is still live at the last mark. The counted iterations are those after warm-up that
    have a later iteration (so "still live" means it outlived at least one more request).

Weighting: bytes *requested*, not resident (no /proc/PID/pagemap join yet): a buffer that is
allocated but never touched is counted in full here; say so where the numbers are shown.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart, ExitCode, OrchError
from orchestrator.results import analysis
from orchestrator.results.atomic import write_json_atomic
from orchestrator.results.model import AttributedStack, Attribution, RunResult, StrategyResult
from orchestrator.results.stacks import FLOOR_MIB, attribution_text, frame_text, stack_name
from orchestrator.run import strategies
from orchestrator.run.plan import RunPlan
from orchestrator.run.strategy_runner import StrategyRunner
from orchestrator.run.worker_config import build as worker_config

MiB = 1024 * 1024
TRACER = "memray"
INSTALL = "pip install 'memray>=1.20'   (or: pip install -e '.[attribution]')"
DEPTH = 12  # frames kept per stack


def tracer_missing() -> str | None:
    """Why the tracer cannot run here (with the install command), or None."""
    if importlib.util.find_spec("memray") is None:
        return f"the native allocation tracer memray is not installed: {INSTALL}"
    return None


def memray_wrap(capture: Path) -> list[str]:
    return ["-m", "memray", "run", "--native", "--force", "-q", "-o", str(capture)]


# ------------------------------------------------------------------ iteration windows
def iteration_starts(marks: list[tuple[int, str, float]]) -> dict[int, float]:
    """The wall-clock time of each iteration's first phase mark."""
    out: dict[int, float] = {}
    for i, _name, t in marks:
        out[i] = min(t, out.get(i, math.inf))
    return out


def counted_iterations(starts: dict[int, float], warmup: int) -> list[int]:
    """After warm-up and with a later iteration; if that leaves none, every one after warm-up."""
    its = sorted(starts)
    if not its:
        return []
    last = its[-1]
    chosen = [i for i in its if i > warmup and i < last]
    return chosen or [i for i in its if i > warmup] or its


PAGE = 4096
DEALLOCATORS = (1, 5, 15)  # memray AllocatorType: PYMALLOC_FREE, FREE, MUNMAP


def resident_pages(pid: int):
    """The virtual page numbers of `pid` that are resident now (/proc/PID/pagemap, bit 63),
    sorted (a numpy array); None if the pagemap cannot be read."""

    chunks = []
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb", buffering=0) as pm:
            for line in maps:
                fields = line.split()
                lo, hi = (int(x, 16) for x in fields[0].split("-"))
                if lo >= 1 << 47 or fields[1].startswith("-"):  # [vsyscall]; PROT_NONE reservations
                    continue
                try:
                    pm.seek(lo // PAGE * 8)
                    data = pm.read((hi - lo) // PAGE * 8)
                except OSError:
                    continue
                arr = np.frombuffer(data, dtype=np.uint64)
                chunks.append(np.nonzero(arr >> np.uint64(63))[0].astype(np.int64) + lo // PAGE)
    except OSError:
        return None
    return np.sort(np.concatenate(chunks)) if chunks else np.zeros(0, dtype=np.int64)


def resident_ratios(reader, pages) -> dict[tuple, float]:
    """Per stack (memray's stack ids): resident ÷ requested bytes of its allocations still live
    at the end of the capture, against the resident pages of a pagemap snapshot."""

    live: dict[int, tuple[int, tuple]] = {}
    for rec in reader.get_allocation_records():
        if int(rec.allocator) in DEALLOCATORS:
            live.pop(rec.address, None)
        else:
            live[rec.address] = (rec.size, (rec.stack_id, rec.native_stack_id, rec.native_segment_generation))
    if not live:
        return {}
    keys: dict[tuple, int] = {}
    addr = np.fromiter(live.keys(), dtype=np.int64, count=len(live))
    size = np.fromiter((v[0] for v in live.values()), dtype=np.int64, count=len(live))
    kidx = np.fromiter((keys.setdefault(v[1], len(keys)) for v in live.values()), dtype=np.int64, count=len(live))
    first, last = addr // PAGE, (addr + np.maximum(size, 1) - 1) // PAGE
    n = np.searchsorted(pages, last, side="right") - np.searchsorted(pages, first, side="left")
    resident = np.minimum(size, n * PAGE)
    req = np.bincount(kidx, weights=size, minlength=len(keys))
    res = np.bincount(kidx, weights=resident, minlength=len(keys))
    return {k: (float(res[j]) / float(req[j]) if req[j] else 0.0) for k, j in keys.items()}


def _snapshot_clock(reader) -> Callable[[int], float]:
    """The wall-clock time of a memray snapshot index (past the last: the capture's end)."""
    snaps = [s.time / 1000.0 for s in reader.get_memory_snapshots()]
    end_meta = reader.metadata.end_time.timestamp()

    def when(snapshot: int) -> float:
        return snaps[snapshot] if snapshot < len(snaps) else end_meta

    return when


def _iteration_bounds(starts: dict[int, float]) -> dict[int, tuple[float, float]]:
    """Each iteration's window: from its first mark to the next iteration's (the last: open)."""
    order = sorted(starts)
    return {i: (starts[i], starts[order[k + 1]] if k + 1 < len(order) else math.inf) for k, i in enumerate(order)}


def _stack_frames(rec) -> tuple:
    """A record's stack, native frames included where the capture has them."""
    try:
        return tuple(rec.hybrid_stack_trace(max_stacks=DEPTH))
    except Exception:  # a capture without native frames
        return tuple(rec.stack_trace(max_stacks=DEPTH))


def _retained_bytes(
    reader, when: Callable[[int], float], counted: list[int], bounds: dict[int, tuple[float, float]], t_end: float
) -> tuple[dict[tuple, dict[int, int]], dict[tuple, tuple]]:
    """Per memray stack id: bytes allocated in each counted iteration and still live at
    `t_end`; and each such stack id's frames."""
    by_id: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    frames_of: dict[tuple, tuple] = {}
    for rec in reader.get_temporal_allocation_records(merge_threads=True):
        ident = (rec.stack_id, rec.native_stack_id, rec.native_segment_generation)
        for iv in rec.intervals:
            if iv.deallocated_before_snapshot is not None and when(iv.deallocated_before_snapshot) <= t_end:
                continue  # freed before the end: not retained
            t = when(iv.allocated_before_snapshot)
            for i in counted:
                lo, hi = bounds[i]
                if lo <= t < hi:
                    if ident not in frames_of:
                        frames_of[ident] = _stack_frames(rec)
                    by_id[ident][i] += iv.n_bytes
                    break
    return by_id, frames_of


def _weighted_by_frames(
    by_id: dict[tuple, dict[int, int]], frames_of: dict[tuple, tuple], ratios: dict[tuple, float] | None
) -> tuple[dict[tuple, dict[int, float]], dict[tuple, float]]:
    """Per stack's frames: the weighted bytes per iteration (× its resident ratio, if any) and
    the requested bytes in all."""
    per_stack: dict[tuple, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    requested: dict[tuple, float] = defaultdict(float)
    for ident, by_iter in by_id.items():
        key = frames_of[ident]
        ratio = 1.0 if ratios is None else ratios.get(ident, 0.0)
        for i, nbytes in by_iter.items():
            per_stack[key][i] += nbytes * ratio
            requested[key] += nbytes
    return per_stack, requested


def _stacks_above_floor(
    per_stack: dict[tuple, dict[int, float]],
    requested: dict[tuple, float],
    n_counted: int,
    floor_mib: float,
    with_requested: bool,
) -> list[AttributedStack]:
    """The stacks whose mean MiB per counted iteration reaches the floor, largest first."""
    stacks = []
    for key, weighted in per_stack.items():
        mean = sum(weighted.values()) / n_counted / MiB
        if mean >= floor_mib:
            frames = list(key)
            stacks.append(
                AttributedStack(
                    name=stack_name(frames),
                    mib_per_iter=round(mean, 3),
                    iterations_seen=sum(1 for v in weighted.values() if v > 0),
                    frames=[frame_text(f) for f in frames],
                    requested_mib_per_iter=round(requested[key] / n_counted / MiB, 3) if with_requested else None,
                )
            )
    stacks.sort(key=lambda s: -s.mib_per_iter)
    return stacks


def analyse_capture(
    capture: Path,
    marks: list[tuple[int, str, float]],
    warmup: int,
    floor_mib: float = FLOOR_MIB,
    pages=None,
) -> tuple[list[int], list[AttributedStack]]:
    """(counted iterations, every stack above the floor, largest first) from a memray capture;
    with `pages` (resident_pages at the end) weighted by resident bytes, else requested."""
    import memray  # lazy: an optional dependency (the attribution extra); tracer_missing() says so

    reader = memray.FileReader(str(capture))
    when = _snapshot_clock(reader)
    starts = iteration_starts(marks)
    counted = counted_iterations(starts, warmup)
    if not counted:
        return [], []
    bounds = _iteration_bounds(starts)
    t_end = max(t for _i, _n, t in marks)
    by_id, frames_of = _retained_bytes(reader, when, counted, bounds, t_end)
    ratios = resident_ratios(reader, pages) if pages is not None and by_id else None
    per_stack, requested = _weighted_by_frames(by_id, frames_of, ratios)
    return counted, _stacks_above_floor(per_stack, requested, len(counted), floor_mib, ratios is not None)


def debug_info_note(plan: RunPlan) -> str | None:
    """Which of the engine's libraries carried DWARF (file:line in the stacks), as its
    registry entry says (chatllm.cpp's); None when it says nothing."""
    spec = engine_registry.REGISTRY.get(plan.engine)
    return spec.debug_symbols_note(plan.engine_options) if spec else None


# ------------------------------------------------------------------ one traced run
def _pagemap_at_end(plan: RunPlan, resident: bool, snapshot: dict) -> Callable[[int, str, int], None]:
    """The worker's phase hook: at the last iteration's closing marks (the last one wins), the
    resident pages into `snapshot` ("pages", and "at": which mark), read while the worker waits."""

    def at_mark(i: int, name: str, pid: int) -> None:
        if resident and i >= plan.iters and name in ("after_infer", "after_unload"):
            snapshot["pages"] = resident_pages(pid)
            snapshot["at"] = f"iteration {i} {name}"

    return at_mark


def _run_traced(
    runner: StrategyRunner,
    plan: RunPlan,
    att: Attribution,
    capture: Path,
    measured_growth: float | None,
    untraced_wall_s: float | None,
) -> StrategyResult:
    """Run the traced worker; its result summarized, and `att`'s timing, growth and notes."""

    t0 = time.monotonic()
    entry = runner.run()
    att.wall_s = round(time.monotonic() - t0, 2)
    att.capture = str(capture)
    entry.summary = analysis.summarize(entry.iterations, plan.thresholds)
    att.traced_growth_mb_per_iter = entry.summary.growth_mb_per_iter
    att.measured_growth_mb_per_iter = measured_growth if measured_growth is not None else att.traced_growth_mb_per_iter
    if untraced_wall_s:
        att.overhead_factor = round(att.wall_s / untraced_wall_s, 2)
    symbols = debug_info_note(plan)
    if symbols:
        att.notes.append(symbols)
    if entry.status.value != "ok":
        att.notes.append(f"the traced worker ended {entry.status.value}: {(entry.error or '')[:300]}")
    return entry


def _analyse_traced(
    att: Attribution, capture: Path, marks: list[tuple[int, str, float]], warmup: int, pages
) -> list[AttributedStack] | None:
    """`analyse_capture`, timed into `att` (and its counted iterations); None, with
    `att.error`, when the capture cannot be read."""
    try:
        t1 = time.monotonic()
        att.iterations, named = analyse_capture(capture, marks, warmup, pages=pages)
        att.analysis_s = round(time.monotonic() - t1, 2)
    except Exception as exc:  # an unreadable capture is a result, not a crash
        att.error = f"could not read the capture {capture}: {type(exc).__name__}: {exc}"
        return None
    return named


def _note_weighting(att: Attribution, snapshot: dict) -> None:
    """Say in `att` whether the bytes are resident (from the pagemap snapshot) or requested."""
    if snapshot.get("pages") is not None:
        att.weighting = "resident"
        att.notes.append(
            f"resident bytes: each stack's requested bytes × the resident share of its allocations "
            f"live at the end (/proc/PID/pagemap at {snapshot['at']})"
        )
    else:
        att.weighting = "requested"
        att.notes.append("bytes requested, not resident: an allocated-but-untouched buffer is counted in full")


def _fill_totals(att: Attribution, named: list[AttributedStack], top: int) -> None:
    """The top stacks kept in `att`; attributed, unattributed and explained growth over all."""
    total = sum(s.mib_per_iter for s in named)  # every stack above the floor, kept or not
    att.stacks = named[:top]
    if len(named) > top:
        att.notes.append(f"{len(named) - top} more stacks above {FLOOR_MIB} MiB/iter are counted but not kept")
    att.attributed_mb_per_iter = round(total, 3)
    g = att.measured_growth_mb_per_iter
    if g is not None:
        att.unattributed_mb_per_iter = round(g - total, 3)
        att.explained_fraction = round(total / g, 3) if g > 0.05 else None


def attribute_strategy(
    plan: RunPlan,
    strategy: str,
    measured_growth: float | None = None,
    untraced_wall_s: float | None = None,
    top: int = 10,
    resident: bool = True,
) -> tuple[StrategyResult, Attribution]:
    """Run `strategy` once under the tracer; its result (summarized) and the attribution."""
    spec = strategies.get(strategy)
    missing = tracer_missing()
    if missing:
        return StrategyResult(strategy=strategy), Attribution(tracer=TRACER, error=missing)
    att = Attribution(tracer=TRACER)
    if spec.processes is not strategies.Processes.ONE or spec.runs_a_program:
        att.error = (
            f"{strategy} runs a new process per request or an engine program: there is no "
            "cross-request leak inside one traced process to attribute (see its peak instead)"
        )
        return StrategyResult(strategy=strategy), att
    capture = plan.run_dir / f"{strategy}.memray.bin"
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    snapshot: dict = {}

    runner = StrategyRunner(
        plan,
        strategy,
        worker_config(plan, strategy),
        plan.audio_s,
        worker_wrap=memray_wrap(capture),
        on_phase=_pagemap_at_end(plan, resident, snapshot),
    )
    entry = _run_traced(runner, plan, att, capture, measured_growth, untraced_wall_s)
    if not capture.exists():
        att.error = f"the tracer wrote no capture ({capture}); see {runner.log_path}"
        return entry, att
    named = _analyse_traced(att, capture, runner.marks, plan.warmup, snapshot.get("pages"))
    if named is None:
        return entry, att
    _note_weighting(att, snapshot)
    _fill_totals(att, named, top)
    entry.attribution = att
    return entry, att


def attribute_growing(plan: RunPlan, result: RunResult, top: int = 10) -> list[str]:
    """`--attribute` on run/compare: every strategy of `result` judged growing is re-run under
    the tracer (in `<run_dir>/attribution/`), its block attached to the strategy's result;
    returns what the console prints (the top three stacks of each, or one line saying none
    is growing)."""
    out = []
    sub = dataclasses.replace(plan, out_dir=plan.run_dir, run_id="attribution", json_path=None)
    for entry in result.results:
        if not (entry.summary and entry.summary.verdict and entry.summary.verdict.value == "growing"):
            continue
        wall = entry.samples[-1][0] if entry.samples else None
        _traced, att = attribute_strategy(sub, entry.strategy, entry.summary.growth_mb_per_iter, wall, top)
        entry.attribution = att
        out.append(attribution_text(att, entry.strategy))
    return out or ["attribution: no strategy is growing; nothing to attribute"]


def _load_run(source: str, out_dir: Path) -> tuple[Path, RunResult]:
    path = Path(source)
    if source == "latest":
        runs = sorted(p for p in out_dir.glob("*/run.json"))
        if not runs:
            raise OrchError(f"no run under {out_dir}")
        path = runs[-1]
    elif not path.exists():
        path = out_dir / source / "run.json"
    if not path.exists():
        raise OrchError(f"no run {source}: {path} does not exist")

    return path, RunResult.from_json(json.loads(path.read_text()))


def _growing_strategies(run: RunResult) -> list[str]:
    """The strategies of `run` judged growing."""
    return [r.strategy for r in run.results if r.summary and r.summary.verdict and r.summary.verdict.value == "growing"]


def _measured_by_strategy(run: RunResult) -> dict[str, tuple[float | None, float | None]]:
    """Per strategy of `run`: (its measured growth per iteration, its wall time), None where absent."""
    measured: dict[str, tuple[float | None, float | None]] = {}
    for r in run.results:
        wall = None
        if r.samples:
            wall = r.samples[-1][0]
        measured[r.strategy] = (r.summary.growth_mb_per_iter if r.summary else None, wall)
    return measured


def chosen_strategies(
    source: str | None, strategy: str | None, out_dir: Path
) -> tuple[list[str], dict[str, tuple[float | None, float | None]], Path | None]:
    """The strategies to attribute, what SOURCE measured of them and SOURCE's run.json (None
    without SOURCE); no strategy when SOURCE has nothing growing and no --strategy is given."""
    measured: dict[str, tuple[float | None, float | None]] = {}
    if source:
        path, run = _load_run(source, out_dir)
        chosen = [strategy] if strategy else _growing_strategies(run)
        return chosen, _measured_by_strategy(run) if chosen else measured, path
    if strategy:
        return [strategy], measured, None
    raise CannotStart("give SOURCE (RUN_ID, latest, run.json) or --strategy")


def attribute_all(
    plan: RunPlan,
    chosen: list[str],
    measured: dict[str, tuple[float | None, float | None]],
    top: int,
    on_done: Callable[[str, Attribution], None] = lambda strategy, att: None,
) -> tuple[RunResult, ExitCode]:
    """Attribute each chosen strategy (`on_done` after each): the run's result, and FAILED when
    a strategy could not be attributed."""
    result = RunResult(run_id=plan.run_id, engine={"name": plan.engine}, plan=plan.describe(None))
    code = ExitCode.OK
    for s in chosen:
        g, wall = measured.get(s, (None, None))
        entry, att = attribute_strategy(plan, s, g, wall, top)
        entry.attribution = att
        result.results.append(entry)
        on_done(s, att)
        if att.error:
            code = ExitCode.FAILED
    return result, code


def write_result(plan: RunPlan, result: RunResult, json_path: str | None) -> Path:
    """run.json in the run's directory, and at --json if given; the run.json's path."""
    write_json_atomic(plan.run_dir / "run.json", result.to_json())
    if json_path:
        write_json_atomic(Path(json_path), result.to_json())
    return plan.run_dir / "run.json"
