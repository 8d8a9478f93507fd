"""A soak's load cell (`kind = "load"` in a [[matrix]] entry, docs/soak.md): one load
level (open loop at `rate`, or closed loop at `concurrency`) run through the load runner
(orchestrator.load.runner) as `orch load` runs it, kept as a LoadRun with its soak block,
stored in the history, and judged against absolute bounds — its alarms:

- `max_p99_latency_ms`: the level's p99 latency (from arrival) over this;
- `min_goodput_rps`: its goodput (requests/s meeting `slo`) under this (needs `slo`);
- `max_mb_per_1000`: memory per 1000 requests (the pool's fit; one worker: its own) over
  this, with the fit's 95% CI above 0 (growth that is there, not noise).

A request that failed or timed out, or a run that errs (the pool's memory guard), is a
failed cell (exit 1), as a strategy that is not ok; an alarm is a regression (exit 3)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.history import store
from orchestrator.history.soak_cell import CellRun
from orchestrator.load import record
from orchestrator.load.arrivals import Arrivals, ClosedLoop, OpenLoop
from orchestrator.load.levels import Slo
from orchestrator.load.plan import LoadInputs, LoadPlan
from orchestrator.load.runner import execute
from orchestrator.results.load_run import LoadAlarm, LoadRun
from orchestrator.results.model import Outcome, Regression, SoakInfo
from orchestrator.run.audio import AudioError, audio_seconds
from orchestrator.run.plan import new_run_id

LOAD_STRATEGIES = ("restart", "fresh-process")  # the load workers' (workers/serve.py)
AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
DEFAULT_REQUESTS = 100


@dataclass
class LoadCellPlan:
    """What a load cell will run (the soak checks it before the first cell runs)."""

    key: str
    plan: LoadPlan | None  # None: the cell cannot start (problems say why)
    alarms: dict[str, float]  # max_p99_latency_ms, min_goodput_rps, max_mb_per_1000 (as given)
    cell: dict
    run_dir: Path
    problems: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        if self.plan is None:
            return "a load level"
        p = self.plan
        amount = f"{p.count} requests" if p.count else f"{p.duration:g} s"
        return f"load {p.levels[0].describe()} x {p.pool.workers} worker(s), {p.run_plan.strategies[0] if p.run_plan else '-'}, {amount}"


def _audio(given: str | None, problems: list[str]) -> list[tuple[str | None, float | None]]:
    """A file, or a folder's audio files (each request picks one, seeded), with their lengths."""
    if not given:
        return [(None, None)]
    path = Path(given)
    files = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES) if path.is_dir() else [given]
    if not files:
        problems.append(f"audio {given}: a folder with no audio files")
    out: list[tuple[str | None, float | None]] = []
    for f in files:
        try:
            out.append((f, audio_seconds(f)))
        except AudioError as exc:
            problems.append(str(exc))
    return out


def _arrivals(cell: dict) -> Arrivals:
    if cell.get("concurrency") is not None:
        return ClosedLoop(int(cell["concurrency"]))
    return OpenLoop(cell.get("arrival", "poisson"), float(cell["rate"]), float(cell.get("burstiness", 1.0)), 0)


def cell_plan(cfg: dict, cell: dict, key: str, out_dir: Path) -> LoadCellPlan:
    """The cell's LoadPlan (LoadPlan.build, as `orch load` builds one), every problem of its
    inputs named (engine options, the model, the audio); the config's keys and types were
    checked by soak.validate_config."""
    problems: list[str] = []
    audio = _audio(cell.get("audio"), problems)
    alarms = {k: float(cell[k]) for k in ("max_p99_latency_ms", "min_goodput_rps", "max_mb_per_1000") if k in cell}
    run_dir = out_dir / f"load-{key.replace('/', '_').replace(':', '_')}-{new_run_id()}"
    duration = cell.get("duration")
    plan, _notes = LoadPlan.build(
        LoadInputs(
            engine=cell.get("engine") or "calibration",
            strategy=cell.get("strategy", "restart"),
            model=cell.get("model"),
            language=cell.get("language"),
            engine_options=dict(cell.get("engine_options") or {}),
            audio=audio,
            workers=int(cell.get("workers", 1)),
            levels=[_arrivals(cell)],
            count=None if duration is not None else int(cell.get("requests", DEFAULT_REQUESTS)),
            duration=float(duration) if duration is not None else None,
            warmup=int(cell.get("warmup_requests", 0)),
            slo=Slo.parse(cell.get("slo")),
            max_lateness_ms=float(cell.get("max_lateness_ms", 10.0)),
            seed=int(cell.get("seed", 0)),
            request_timeout=float(cell.get("request_timeout", 120.0)),
            sample_hz=float(cell.get("sample_hz", 10.0)),
            max_rss_mb=cell.get("max_rss_mb"),
            run_dir=run_dir,
            json_path=run_dir / record.RESULT_FILE,
        )
    )
    problems += plan.problems(audio_named=bool(problems))
    if problems:
        return LoadCellPlan(key, None, alarms, cell, run_dir, list(dict.fromkeys(problems)))
    return LoadCellPlan(key, plan, alarms, cell, run_dir)


def _p99_alarm(lv, bound: float | None) -> LoadAlarm | None:
    """p99 latency over the bound. Where the level's count cannot support a p99 (results.
    early_stopping), the highest percentile it does support stands in as a floor: p99 is at least
    that, so a p90 or median already over the bound is a p99 over it."""
    latency = lv.figure("latency_ms")
    if bound is None or latency is None:
        return None
    which, value = next((w, v) for w in ("p99", "p90", "p50") if (v := getattr(latency, w)) is not None)
    if value <= bound:
        return None
    shown = (
        f"{value:.1f} ms"
        if which == "p99"
        else f"at least {value:.1f} ms (its {which}; n={latency.n} is too few for a p99)"
    )
    message = f"{lv.arrivals}: p99 latency {shown} over the {bound:g} ms bound"
    return LoadAlarm("p99_latency", lv.level, lv.arrivals, value, bound, message)


def alarms_of(run: LoadRun, bounds: dict[str, float]) -> list[LoadAlarm]:
    """Every bound a level of the run went past (LoadAlarm: its value, its bound, a message)."""
    out = []
    for lv in run.levels:
        alarm = _p99_alarm(lv, bounds.get("max_p99_latency_ms"))
        if alarm is not None:
            out.append(alarm)
        bound = bounds.get("min_goodput_rps")
        if bound is not None and lv.goodput_rps is not None and lv.goodput_rps < bound:
            out.append(
                LoadAlarm(
                    "goodput",
                    lv.level,
                    lv.arrivals,
                    lv.goodput_rps,
                    bound,
                    f"{lv.arrivals}: goodput {lv.goodput_rps:.2f} req/s under the {bound:g} req/s bound (SLO {lv.slo})",
                )
            )
        bound = bounds.get("max_mb_per_1000")
        fit = lv.pool_memory
        if bound is not None and fit is not None and fit.enough and fit.mb_per_1000 > bound and fit.ci_low > 0:
            out.append(
                LoadAlarm(
                    "memory",
                    lv.level,
                    lv.arrivals,
                    fit.mb_per_1000,
                    bound,
                    f"{lv.arrivals}: memory {fit.mb_per_1000:+.2f} MB per 1000 requests ({fit.who}; 95% CI "
                    f"{fit.ci_low:+.2f}..{fit.ci_high:+.2f}) over the {bound:g} MB bound",
                )
            )
    return out


def run_cell(cfg: dict, lcp: LoadCellPlan, db: str | None, accept: bool) -> CellRun:
    """Run the cell's level, judge it, keep and store it; KeyboardInterrupt goes on up (the
    run is kept in its folder first, not stored: soak's Ctrl-C rule)."""
    run = CellRun(soak=cfg["name"], matrix_key=lcp.key)
    if lcp.plan is None:
        run.error = "cannot start: " + "; ".join(lcp.problems)
        run.finished = time.time()
        return run
    started = record.start()
    try:
        execute(lcp.plan)
    except KeyboardInterrupt:
        record.keep(lcp.run_dir, started)
        raise
    except Exception as exc:  # noqa: BLE001 - a pool that cannot start is this cell's failure
        run.error = f"the load run failed: {type(exc).__name__}: {exc}"
        run.finished = time.time()
        return run
    kept = record.keep(lcp.run_dir, started)
    run.finished = time.time()
    if kept is None:
        run.error = "the load run wrote no result"
        return run
    alarms = alarms_of(kept, lcp.alarms)
    notes = [f"{lv.arrivals}: INVALID: {lv.invalid_reason}" for lv in kept.levels if not lv.valid]
    if kept.status in ("failed", "error", "interrupted"):  # dropped requests: the level saturated, judged by its bounds
        bad = [f"{lv.arrivals}: {lv.failed} failed, {lv.timed_out} timed out" for lv in kept.levels]
        run.error = kept.error or f"the load run {kept.status}: " + "; ".join(bad)
    strategy = kept.strategy or "restart"
    run.regressions = [Regression(kind=f"load_{a.kind}", strategy=strategy, message=a.message) for a in alarms]
    if run.error:
        outcome = Outcome.FAILED
    elif alarms and not accept:
        outcome = Outcome.REGRESSION
    else:
        outcome = Outcome.OK
        if alarms:
            notes.append("--accept: stored as good despite the alarms below")
    kept.alarms = alarms
    kept.soak = SoakInfo(
        name=cfg["name"],
        config=cfg["_path"],
        matrix_key=lcp.key,
        cell=lcp.cell,
        outcome=outcome,
        notes=notes,
        error=run.error,
    )
    run.load, run.outcome, run.notes = kept, outcome, notes
    run.changes = []  # a load cell is judged on its bounds, not on change points
    try:
        record.write(lcp.run_dir, kept)
        store.save_load_run(kept, db)
    except Exception as exc:
        run.error = f"cannot store the run in the history database: {exc}"
        run.outcome = Outcome.FAILED
    return run


def input_problems(lcp: LoadCellPlan) -> list[str]:
    return list(lcp.problems)
