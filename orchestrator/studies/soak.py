"""A soak (`orch soak --config FILE`, orchestrator.commands.soak): run a matrix of plans (TOML)
through the harness, store every run in the history, compare each with its baseline (the
last good runs of the same matrix key) and say, by exit code, whether anything regressed —
for cron or a systemd timer.

Exit codes (orchestrator.errors.ExitCode): 0 fine; 3 a regression, or a change point that
this run brought to its matrix key's history (history/changepoints.py; both named on stdout
and stderr); 1 a run failed (a strategy with a status other than ok, an error, a cell whose
inputs are missing); 2 nothing ran (a bad config, another soak of the same config still
running); 130 Ctrl-C (143 SIGTERM, 129 SIGHUP: the same) (the cells finished before it are stored).

Config (see docs/soak.md):

    name = "nightly"               # default: the file's stem; first part of every matrix key
    baseline_runs = 5              # how many earlier good runs make the baseline
    ttft_regression_pct = 10       # median TTFT slower by more than this (and significant)
    alpha = 0.05                   # Mann–Whitney U significance level
    growth_threshold_mb = 0.1      # the verdict threshold, and the least growth that regresses
    change_min_size = 5            # change points: runs needed on each side of a change
    change_max_pvalue = 1e-4       # change points: Chow's test p below this keeps a change
    attribute = false              # on an alarm, re-run the growing strategies under the tracer
    out = "soak-results"           # run folders (relative to this file; default: user data dir)
    db = "…"                       # history database (--db and ORCH_DB win over it)
    prometheus = "…/orch.prom"     # textfile-collector file (--prometheus wins)

    [defaults]                     # merged under every cell
    engine = "calibration"
    strategies = ["restart", "recreate"]
    iters = 30
    warmup = 3

    [[matrix]]                     # one cell = one run; list-valued model/audio expand
    name = "calib"                 # optional: else the key is made from engine, scenario, model, audio, strategies
    engine_options = {leak_mb = 0}
    model = ["a", "b:64"]
    audio = "x.wav"

    [[matrix]]                     # a load level (studies/soak_load.py): run as `orch load` runs it
    kind = "load"
    name = "service"
    rate = 10                      # or concurrency = 4
    requests = 200                 # or duration = 60
    workers = 2
    slo = "ttft_ms=1000,rtf=0.5"
    max_p99_latency_ms = 2000      # alarms: p99 latency over, goodput under,
    min_goodput_rps = 8            #   memory per 1000 requests over (its CI above 0)
    max_mb_per_1000 = 1
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import itertools
import math
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs
import tomllib
from filelock import FileLock, Timeout

from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.decoding import DECODINGS
from orchestrator.errors import CannotStart, ExitCode, OrchError, decode_utf8
from orchestrator.history import changepoints as cp
from orchestrator.history import prometheus, store
from orchestrator.history.baseline import Settings, compare
from orchestrator.history.changepoints import Settings as ChangeSettings
from orchestrator.history.soak_cell import CellRun
from orchestrator.load.arrivals import ARRIVALS
from orchestrator.load.levels import Slo
from orchestrator.results.atomic import write_json_atomic
from orchestrator.results.model import Outcome, Regression, RunResult, SoakInfo, Status
from orchestrator.run import runner
from orchestrator.run import strategies as registry
from orchestrator.run.plan import ENGINES, SCENARIOS, RunPlan, limit_problem, new_run_id
from orchestrator.run.plan_inputs import PlanInputs
from orchestrator.studies import attribution, soak_load


class ConfigError(OrchError):
    """A soak config that cannot run (exit 2)."""


# --- the config's schema: every key's type and range, checked before anything runs ---------
def _text(v):
    return None if isinstance(v, str) and v.strip() else f"must be a non-empty string, not {v!r}"


def _path(v):
    if isinstance(v, str) and "\0" in v:
        return f"must be a path, not {v!r} (a NUL character)"
    return _text(v)


def _paths(v, least=1):
    return _texts(v, least) or next((_path(x) for x in v if _path(x)), None)


def _path_or_paths(v):
    return (
        _path(v)
        if isinstance(v, str)
        else (None if _paths(v) is None else f"must be a path or a list of paths, not {v!r}")
    )


def _texts(v, least=1):
    if isinstance(v, list) and len(v) >= least and all(isinstance(x, str) and x.strip() for x in v):
        return None
    return f"must be a list of {least} or more non-empty strings, not {v!r}"


def _text_or_texts(v):
    if isinstance(v, str):
        return _text(v)
    return None if _texts(v) is None else f"must be a string or a list of strings, not {v!r}"


def _choice(options):
    def check(v):
        return None if isinstance(v, str) and v in options else f"must be one of {', '.join(options)}, not {v!r}"

    return check


def _number(low, high=None, low_open=False, high_open=False, integer=False):
    def check(v):
        kind = "an integer" if integer else "a number"
        bounds = f" {'>' if low_open else '>='} {low}" + (
            f" and {'<' if high_open else '<='} {high}" if high is not None else ""
        )
        ok_type = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok_type or (isinstance(v, float) and not math.isfinite(v)):
            return f"must be {kind}{bounds}, not {v!r}"
        if v < low or (low_open and v == low) or (high is not None and (v > high or (high_open and v == high))):
            return f"must be {kind}{bounds}, not {v!r}"
        return None

    return check


def _limit(key):
    return lambda v: limit_problem(key, v)


def _strategies(v):
    names = [x.strip() for x in v.split(",") if x.strip()] if isinstance(v, str) else v
    if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
        return f'must be a list of strategies (or "a,b"), not {v!r}'
    unknown = [x for x in names if x not in registry.NAMES]
    if unknown:
        return f"has unknown {', '.join(map(repr, unknown))}: choose from {', '.join(registry.NAMES)}"
    repeated = sorted({x for x in names if names.count(x) > 1}, key=names.index)
    if repeated:
        return f"names {', '.join(repeated)} more than once (one run writes one <strategy>.jsonl each)"
    return None


def _bool(v):
    return None if isinstance(v, bool) else f"must be true or false, not {v!r}"


def _table(v):
    return None if isinstance(v, dict) else f"must be a table {{key = value, …}}, not {v!r}"


def _slo(v):
    if not isinstance(v, str):
        return f'must be a string such as "ttft_ms=1000,rtf=0.5", not {v!r}'
    try:
        Slo.parse(v)
    except ValueError as exc:
        return f"is not an SLO: {exc}"
    return None


# a load cell's own keys (kind = "load"; studies/soak_load.py), and the run cell's keys it does not take
LOAD_SCHEMA = {
    "kind": _choice(("run", "load")),
    "strategy": _choice(soak_load.LOAD_STRATEGIES),
    "workers": _number(1, integer=True),
    "rate": _number(0, low_open=True),
    "concurrency": _number(1, integer=True),
    "arrival": _choice(ARRIVALS),
    "burstiness": _number(0, low_open=True),
    "requests": _number(1, integer=True),
    "duration": _number(0, low_open=True),
    "warmup_requests": _number(0, integer=True),
    "slo": _slo,
    "seed": _number(0, integer=True),
    "request_timeout": _number(0, low_open=True),
    "max_lateness_ms": _number(0, low_open=True),
    "max_p99_latency_ms": _number(0, low_open=True),
    "min_goodput_rps": _number(0, low_open=True),
    "max_mb_per_1000": _number(0),
}
RUN_ONLY = ("scenario", "decoding", "models", "reference", "strategies", "iters", "warmup", "iter_timeout", "idle_s",
            "plateau_min_tail")  # fmt: skip


CELL_SCHEMA = {
    "name": _text,
    "engine": _choice(ENGINES),
    "engine_options": _table,
    "scenario": _choice(SCENARIOS),
    "decoding": _choice(DECODINGS),
    "model": _path_or_paths,
    "models": _paths,
    "audio": _path_or_paths,
    "reference": _path,
    "language": _text,
    "strategies": _strategies,
    "iters": _limit("iters"),
    "warmup": _limit("warmup"),
    "iter_timeout": _limit("iter_timeout"),
    "idle_s": _limit("idle_s"),
    "sample_hz": _limit("sample_hz"),
    "plateau_min_tail": _limit("plateau_min_tail"),
    "max_rss_mb": _number(0),
    **LOAD_SCHEMA,
}
SOAK_SCHEMA = {
    "name": _text,
    "baseline_runs": _number(1, integer=True),
    "ttft_regression_pct": _number(0),
    "alpha": _number(0, 1, low_open=True, high_open=True),
    "growth_threshold_mb": _limit("growth_threshold_mb"),
    # the `orch history changes` options --min-size and --max-pvalue, for soak's own look
    "change_min_size": _number(2, integer=True),
    "change_max_pvalue": _number(0, 1, low_open=True, high_open=True),
    "attribute": _bool,
    "out": _path,
    "db": _path,
    "prometheus": _path,
    "defaults": _table,
    "matrix": None,  # checked below
}
CELL_KEYS = set(CELL_SCHEMA)
SOAK_KEYS = set(SOAK_SCHEMA)


def _engine_options_schema() -> dict[str, dict]:
    """engine_options per engine: every option a user may set (the same as run's flags and
    more: decoy_mb, churn_mb, transcript), from the engine's options dataclass."""
    return {
        name: {key: fields.soak_check(meta) for key, meta in fields.metas(spec.options) if meta.settable}
        for name, spec in engine_registry.REGISTRY.items()
    }


def _check_table(table: dict, schema: dict, where: str, skip=()) -> list[str]:
    out = []
    unknown = sorted(str(k) for k in table if k not in schema and k not in skip)
    if unknown:
        out.append(f"{where}: unknown key(s) {', '.join(unknown)}")
    for key, check in schema.items():
        if key in table and key not in skip and check is not None:
            why = check(table[key])
            if why:
                out.append(f"{where}: {key} {why}")
    return out


def _entry_label(i: int, entry: dict) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"[[matrix]] #{i + 1}" + (f" {name!r}" if isinstance(name, str) and name else "")


def validate_config(cfg: dict) -> list[str]:
    """Every problem of a parsed config, one line each naming the key and the cell: unknown
    keys, types, ranges, engines, scenarios, strategies (unknown or repeated), engine
    options per engine, cells without strategies. Empty when it can run."""
    top_cells = {k: v for k, v in cfg.items() if k in CELL_KEYS and k != "name"}
    problems = _check_table(
        {k: v for k, v in cfg.items() if k not in CELL_KEYS or k == "name"}, SOAK_SCHEMA, "top level"
    )
    problems += _check_table(top_cells, CELL_SCHEMA, "top level")
    engine_options = _engine_options_schema()
    defaults = cfg.get("defaults")
    defaults = defaults if isinstance(defaults, dict) else {}
    problems += _check_table(defaults, CELL_SCHEMA, "[defaults]")
    matrix = cfg.get("matrix")
    if matrix is not None and not (isinstance(matrix, list) and all(isinstance(e, dict) for e in matrix)):
        problems.append(f"top level: matrix must be tables ([[matrix]] sections), not {matrix!r}")
        matrix = [e for e in matrix if isinstance(e, dict)] if isinstance(matrix, list) else []
    entries = matrix or [{}]
    for i, entry in enumerate(entries):
        label = _entry_label(i, entry) if matrix else "the cell (no [[matrix]])"
        problems += _check_table(entry, CELL_SCHEMA, label)
        merged = {**defaults, **top_cells, **entry}
        if merged.get("kind") == "load":
            problems += _load_cell_problems(label, entry, merged)
        elif "strategies" not in merged:
            problems.append(f"{label}: no strategies (give `strategies` in the cell or in [defaults])")
        else:
            own_load = sorted(k for k in entry if k in LOAD_SCHEMA and k != "kind")
            if own_load:
                problems.append(f'{label}: {", ".join(own_load)} are keys of a load cell: add kind = "load"')
        engine = merged.get("engine", "calibration")
        engine = engine if isinstance(engine, str) and engine in ENGINES else None  # else named above
        layers = [("[defaults]", defaults), ("top level", top_cells), (label, entry)]
        for where, layer in layers:
            options = layer.get("engine_options")
            if not isinstance(options, dict):
                continue
            own = where == label
            for key, value in options.items():
                owners = [e for e, schema in engine_options.items() if key in schema]
                if not owners:
                    known = ", ".join(dict.fromkeys(k for schema in engine_options.values() for k in schema))
                    problems.append(f"{where}: engine_options has unknown key {key!r} (known: {known})")
                elif engine and engine not in owners and own:  # inherited options of another engine are left alone
                    problems.append(
                        f"{where}: engine_options.{key} is an option of the {owners[0]} engine, not of {engine}"
                    )
                else:
                    why = engine_options[engine if engine in owners else owners[0]][key](value)
                    if why:
                        problems.append(f"{where}: engine_options.{key} {why}")
    return list(dict.fromkeys(problems))  # an inherited problem once, not once per cell


def _load_cell_problems(label: str, entry: dict, merged: dict) -> list[str]:
    """A load cell: one level (rate or concurrency), a count or a duration, goodput's bound
    with an SLO, and none of a run cell's own keys in the cell itself (inherited ones from
    [defaults] are for the run cells, and ignored)."""
    out = []
    if ("rate" in merged) == ("concurrency" in merged):
        out.append(f"{label}: a load cell needs one of `rate` (open loop) or `concurrency` (closed loop)")
    if "requests" in merged and "duration" in merged:
        out.append(f"{label}: give `requests` or `duration`, not both")
    if "min_goodput_rps" in merged and not merged.get("slo"):
        out.append(f"{label}: min_goodput_rps needs an `slo` (goodput is the requests meeting it)")
    run_only = [k for k in RUN_ONLY if k in entry]
    if run_only:
        out.append(f"{label}: {', '.join(run_only)} are keys of a run cell, not of a load cell")
    return out


def load_config(path: str | Path) -> dict:
    """The parsed config; ConfigError when it cannot be read or parsed, CannotStart listing
    every problem validate_config finds."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read soak config {path}: {exc.strerror or exc}") from None
    try:
        cfg = tomllib.loads(decode_utf8(data, f"soak config {path}"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"soak config {path} is not valid TOML: {exc}") from None
    problems = validate_config(cfg)
    if problems:
        raise CannotStart([f"{path}: {p}" for p in problems])
    cfg.setdefault("name", path.stem)
    cfg["_path"] = str(path.resolve())
    return cfg


def _as_list(v):
    if v is None:
        return [None]
    return list(v) if isinstance(v, list) else [v]


def expand_indexed(cfg: dict) -> list[tuple[str, dict]]:
    """(where it came from, cell) for every cell of the matrix: defaults, then top-level cell
    keys, then the [[matrix]] entry; a list under `model` or `audio` makes one cell per value
    (their product)."""
    base = {**(cfg.get("defaults") or {}), **{k: v for k, v in cfg.items() if k in CELL_KEYS and k != "name"}}
    cells = []
    entries = cfg.get("matrix") or []
    for i, entry in enumerate(entries or [{}]):
        label = _entry_label(i, entry) if entries else "the cell"
        merged = {**copy.deepcopy(base), **copy.deepcopy(entry)}
        merged["engine_options"] = {**(base.get("engine_options") or {}), **(entry.get("engine_options") or {})}
        for model, audio in itertools.product(_as_list(merged.get("model")), _as_list(merged.get("audio"))):
            cell = dict(
                merged,
                model=model,
                audio=audio,
                _expanded=[k for k in ("model", "audio") if isinstance(merged.get(k), list)],
            )
            if cell.get("kind") == "load":
                cells.append((label, cell))
                continue
            if not cell.get("strategies"):
                raise ConfigError(f"{label}: no strategies")
            if isinstance(cell["strategies"], str):
                cell["strategies"] = [s.strip() for s in cell["strategies"].split(",") if s.strip()]
            cells.append((label, cell))
    return cells


def expand_cells(cfg: dict) -> list[dict]:
    """Every cell of the matrix (expand_indexed without where each came from)."""
    return [cell for _label, cell in expand_indexed(cfg)]


def matrix_key(cfg: dict, cell: dict) -> str:
    """`<soak name>/<cell>`: the cell's `name` (plus model/audio when a list expanded it),
    else engine:scenario:model:audio:strategies. Engine options are left out on purpose, so
    a soak keeps its baseline across engine builds and option tweaks; name a cell anew to
    start a fresh baseline."""
    parts = []
    load = cell.get("kind") == "load"
    if cell.get("name"):
        parts.append(str(cell["name"]))
    elif load:
        parts += ["load", cell.get("engine") or "calibration"]
    else:
        parts += [cell.get("engine") or "calibration", cell.get("scenario") or "asr"]
    for k in ("model", "audio"):
        if cell.get(k) and (not cell.get("name") or k in cell.get("_expanded", ())):
            parts.append(os.path.basename(str(cell[k])))
    if cell.get("models"):
        parts.append("+".join(os.path.basename(str(m)) for m in cell["models"]))
    if not cell.get("name") and load:
        level = f"{cell['rate']:g}rps" if cell.get("rate") is not None else f"c{cell.get('concurrency')}"
        parts += [cell.get("strategy") or "restart", f"x{cell.get('workers', 1)}", level]
    elif not cell.get("name"):
        parts.append("+".join(cell["strategies"]))
    key = f"{cfg['name']}/{':'.join(parts)}"
    if len(key) > 200:
        key = key[:180] + "~" + hashlib.sha1(key.encode()).hexdigest()[:12]
    return key


def _out_dir(cfg: dict) -> Path:
    out = cfg.get("out")
    if out:
        return Path(out) if os.path.isabs(out) else Path(cfg["_path"]).parent / out
    return Path(platformdirs.user_data_dir("orch", appauthor=False)) / "soak-results"


def cell_plan(cfg: dict, cell: dict) -> tuple[RunPlan, list[str]]:
    """A cell's RunPlan and the notes on what was decided for it, through the same
    constructor as the command line (RunPlan.build)."""
    out_dir = _out_dir(cfg)
    models = list(cell.get("models") or ([cell["model"]] if cell.get("model") else []))
    return RunPlan.build(
        PlanInputs(
            strategies=list(cell["strategies"]),
            iters=cell.get("iters"),
            warmup=cell.get("warmup"),
            engine=cell.get("engine"),
            scenario=cell.get("scenario"),
            decoding=cell.get("decoding"),
            models=models,
            audio=cell.get("audio"),
            reference=cell.get("reference"),
            language=cell.get("language"),
            out_dir=out_dir,
            iter_timeout=cell.get("iter_timeout"),
            sample_hz=cell.get("sample_hz"),
            idle_s=cell.get("idle_s"),
            growth_threshold_mb=cfg.get("growth_threshold_mb"),
            plateau_min_tail=cell.get("plateau_min_tail"),
            max_rss_mb=cell.get("max_rss_mb"),
            engine_options=dict(cell.get("engine_options") or {}),
        )
    )


def lock_path(config_path: str) -> Path:
    directory = os.environ.get("ORCH_LOCK_DIR")
    if not directory:
        directory = platformdirs.user_cache_dir("orch", appauthor=False)
    Path(directory).mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(os.path.realpath(config_path).encode()).hexdigest()[:16]
    return Path(directory) / f"soak-{Path(config_path).stem}-{digest}.lock"


# --- running the matrix ---------------------------------------------------------------------
@dataclass
class SoakSettings:
    """How each run is judged: the baseline's size, the regression checks, the change-point
    search, --accept; and whether an alarm is followed by attribution (--attribute)."""

    baseline_runs: int = 5
    compare: Settings = field(default_factory=Settings)
    changes: ChangeSettings = field(default_factory=ChangeSettings)
    accept: bool = False
    attribute: bool = False


def _ts(iso: str | None) -> float | None:
    t = store.parse_time(iso)
    return None if t is None else t.replace(tzinfo=_dt.timezone.utc).timestamp()


def _run_cell(
    cfg: dict, cell: dict, key: str, plan, problems: list[str], db: str | None, settings: SoakSettings
) -> CellRun:
    """Run one cell (its plan built and checked by `soak`; `problems`: its inputs', when it
    cannot start), compare it with its baseline, store it."""
    run = CellRun(soak=cfg["name"], matrix_key=key)
    if problems:
        run.error = "cannot start: " + "; ".join(problems)
        run.finished = time.time()
        return run
    plan.run_id = new_run_id()  # the plans were built together before the first cell ran
    result = _execute(plan, run)
    run.finished = time.time()
    if result is None:
        return run
    good = _baseline_runs(db, key, result.run_id, settings.baseline_runs, run)
    regressions, notes = compare(result, good, settings.compare)
    if run.error is None:
        run.error = _failed_strategies(result)
    outcome = _outcome(run.error, regressions, settings.accept)
    if settings.accept and regressions and outcome is Outcome.OK:
        notes.append("--accept: stored as a good baseline despite the regressions below")
    changes = _new_change_points(db, key, result, notes, settings.changes)
    if settings.accept and changes:
        notes += [f"--accept: change point accepted: {c.message()}" for c in changes]
    result.soak = SoakInfo(
        name=cfg["name"],
        config=cfg["_path"],
        matrix_key=key,
        cell=cell,
        outcome=outcome,
        regressions=regressions,
        notes=notes,
        baseline_run_ids=[r.run_id for r in good],
        error=run.error,
    )
    if changes:
        result.soak.other["change_points"] = [c.to_json() for c in changes]
    run.changes = [] if settings.accept else changes
    run.result, run.outcome, run.regressions, run.notes = result, outcome, regressions, notes
    if settings.attribute and (outcome is Outcome.REGRESSION or run.changes):
        run.attribution = _attribute(plan, result, notes)  # before _keep: the stacks are stored
    _keep(plan, result, db, run)
    return run


def _attribute(plan, result: RunResult, notes: list[str]) -> list[str]:
    """`--attribute`: the run alarmed, so its growing strategies are re-run under the tracer
    (orch attribute) and the stacks kept in their results; a failure is a note, not a failed
    cell (the run itself was measured)."""
    try:
        return attribution.attribute_growing(plan, result)
    except Exception as exc:  # noqa: BLE001 - the measured run is kept whatever the tracer does
        notes.append(f"attribution failed: {type(exc).__name__}: {exc}")
        return []


def _execute(plan, run: CellRun) -> RunResult | None:
    """The harness's result; an exception is the cell's error. Ctrl-C (RunInterrupted) is
    not: it stops the soak (`soak` catches it), the cell it cut short left unstored."""
    try:
        return runner.execute(plan)
    except runner.RunInterrupted:
        raise
    except Exception as exc:
        run.error = f"the run failed: {type(exc).__name__}: {exc}"
        return getattr(exc, "result", None)


def _baseline_runs(db: str | None, key: str, run_id: str, how_many: int, run: CellRun) -> list[RunResult]:
    """The last `how_many` runs of this matrix key whose outcome was ok (not this one)."""
    try:
        earlier = store.list_runs(db, matrix_key=key, kind="soak", status="ok", limit=None, host=store.this_host())
        good = [r for r in earlier if r.outcome == Outcome.OK and r.run_id != run_id][:how_many]
        return [store.load_run(r.run_id, db) for r in good]
    except Exception as exc:
        run.error = f"cannot read the history database: {exc}"
        return []


def _new_change_points(
    db: str | None, key: str, result: RunResult, notes: list[str], settings: ChangeSettings | None = None
) -> list:
    """The change points this run brings to its matrix key's series (the stored soak runs
    of the key, then this one): found with it, not without it (changepoints.new_changes)."""
    try:
        rows = [
            r for r in store.list_runs(db, matrix_key=key, kind="soak", newest_first=False) if r.run_id != result.run_id
        ]
    except Exception as exc:
        notes.append(f"change points not looked for (cannot read the history database: {exc})")
        return []
    found = []
    for series in cp.series_of(rows + [cp.stored_row(result, key)]):
        if series.points and series.points[-1].run_id == result.run_id:
            found += cp.new_changes(series, settings)
    return found


def _failed_strategies(result: RunResult) -> str | None:
    if store.run_status(result) == "ok":
        return None
    bad = [
        f"{r.strategy}: {r.status}" + (f" ({r.error.splitlines()[0]})" if r.error else "")
        for r in result.results
        if r.status is not Status.OK
    ]
    return "the run failed: " + "; ".join(bad)


def _outcome(error: str | None, regressions: list[Regression], accept: bool) -> Outcome:
    if error:
        return Outcome.FAILED
    return Outcome.REGRESSION if regressions and not accept else Outcome.OK


def _keep(plan, result: RunResult, db: str | None, run: CellRun) -> None:
    """The run folder's run.json with the soak block, and the history database's copy (a
    run that cannot be stored is a failed cell)."""
    try:
        write_json_atomic(plan.run_dir / "run.json", result.to_json())
    except Exception:
        pass  # the database copy is the one that matters here
    try:
        store.save_run(result, db)
    except Exception as exc:
        run.error = f"cannot store the run in the history database: {exc}"
        run.outcome = Outcome.FAILED


def _last_success(db: str | None, run: CellRun) -> float | None:
    if run.outcome is Outcome.OK:
        return run.finished
    try:
        for r in store.list_runs(db, matrix_key=run.matrix_key, kind="soak", status="ok", host=store.this_host()):
            if r.outcome == Outcome.OK:
                return _ts(r.finished_at or r.started_at)
    except Exception:
        return None
    return None


def which_db(db: str | None, cfg: dict, config_path: str) -> tuple[str | None, str]:
    """--db, else ORCH_DB, else the config's `db` (else the default location), and where it was named."""
    if db:
        return db, "--db"
    if os.environ.get("ORCH_DB"):
        return os.environ["ORCH_DB"], "ORCH_DB"
    return cfg.get("db"), f"`db` in {config_path}"


def cell_plans(
    cfg: dict, cells: list[tuple[str, dict]], config_path: str, db: str | None, db_source: str
) -> tuple[list[RunPlan | soak_load.LoadCellPlan], list[str], list[list[str]]]:
    """Every cell's plan (a load cell's: soak_load.LoadCellPlan), matrix key and notes (what RunPlan.build decided for it); CannotStart
    naming every problem of the plans, keys shared by two cells, and the history database
    (opened when all else is right)."""
    plans: list = []
    keys: list[str] = []
    notes: list[list[str]] = []
    problems: list[str] = []
    for label, cell in cells:
        key = matrix_key(cfg, cell)
        keys.append(key)
        if cell.get("kind") == "load":  # its input problems make it a failed cell, as a run cell's
            plans.append(soak_load.cell_plan(cfg, cell, key, _out_dir(cfg)))
            notes.append([])
            continue
        plan, cell_notes = cell_plan(cfg, cell)
        notes.append(cell_notes)
        problems += [f"{config_path}: {label}: {p}" for p in plan.validate()]
        plans.append(plan)
    for key in sorted({k for k in keys if keys.count(k) > 1}, key=keys.index):
        where = sorted({label for (label, _c), k in zip(cells, keys, strict=True) if k == key})
        problems.append(
            f"{config_path}: {' and '.join(where)} make the same matrix key {key} (two runs would "
            "share one baseline): give them different `name`s"
        )
    why = store.db_problem(db, write=True, source=db_source if db else None)
    if why:
        problems.append(why)
    if problems:
        raise CannotStart(problems)
    # every cell stores its run: a database that cannot be opened would fail each one after
    # it ran, so it is opened (made, brought up to date) before the first
    why = store.open_problem(db, source=db_source if db else None)
    if why:
        raise CannotStart(why)
    return plans, keys, notes


def settings_from(cfg: dict, baseline_runs, ttft_pct, alpha, accept: bool, attribute: bool = False) -> SoakSettings:
    """The command line's options over the config's keys."""
    return SoakSettings(
        baseline_runs=baseline_runs or int(cfg.get("baseline_runs", 5)),
        compare=Settings(
            ttft_pct=ttft_pct if ttft_pct is not None else float(cfg.get("ttft_regression_pct", 10.0)),
            alpha=alpha if alpha is not None else float(cfg.get("alpha", 0.05)),
            growth_threshold_mb=float(cfg.get("growth_threshold_mb", Settings.growth_threshold_mb)),
        ),
        changes=ChangeSettings(
            min_size=int(cfg.get("change_min_size", ChangeSettings().min_size)),
            max_pvalue=float(cfg.get("change_max_pvalue", ChangeSettings().max_pvalue)),
        ),
        accept=accept,
        attribute=bool(attribute or cfg.get("attribute", False)),  # either one turns it on
    )


@contextmanager
def soak_lock(cfg: dict):
    """One soak of a config at a time: a second one is refused (exit 2), not queued."""
    lock = FileLock(str(lock_path(cfg["_path"])))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise OrchError(
            f"another soak of {cfg['_path']} is still running (lock {lock.lock_file} is held); "
            "not starting a second one",
            ExitCode.CANNOT_START,
        ) from None
    try:
        yield
    finally:
        lock.release()


def run_matrix(
    cfg: dict,
    cells: list[tuple[str, dict]],
    plans: list[RunPlan | soak_load.LoadCellPlan],
    keys: list[str],
    inputs: list[list[str]],
    db: str | None,
    settings: SoakSettings,
    on_start: Callable[[str, RunPlan | soak_load.LoadCellPlan], None],
    on_done: Callable[[CellRun, bool], None],
) -> list[CellRun]:
    """Every cell in turn (`inputs`: each cell's input problems, found before the first ran;
    a cell with some is a failed run, the others still run): `on_start(key, plan)` before a
    cell that can start, `on_done(run, inputs_named)` after each. Ctrl-C raises
    SoakInterrupted with the cells finished before it (each stored when it finished)."""
    runs: list[CellRun] = []
    for (_label, cell), plan, key, found in zip(cells, plans, keys, inputs, strict=True):
        if not found:
            on_start(key, plan)
        try:
            if isinstance(plan, soak_load.LoadCellPlan):
                run = soak_load.run_cell(cfg, plan, db, settings.accept)
            else:
                run = _run_cell(cfg, cell, key, plan, found, db, settings)
        except (runner.RunInterrupted, KeyboardInterrupt):
            raise SoakInterrupted(runs, key, plan) from None
        run.last_success = _last_success(db, run)
        runs.append(run)
        on_done(run, bool(found))
    return runs


class SoakInterrupted(Exception):
    """Ctrl-C during cell `key`: `runs` finished (and were stored) before it; what the cell
    measured is in its run folder (`plan.run_dir`), not in the history."""

    def __init__(self, runs: list[CellRun], key: str, plan: RunPlan | soak_load.LoadCellPlan):
        super().__init__("interrupted")
        self.runs, self.key, self.plan = runs, key, plan


def exit_code(runs: list[CellRun]) -> ExitCode:
    """FAILED when a run failed, else REGRESSED when one regressed or brought a new change
    point, else OK."""
    if any(r.outcome is Outcome.FAILED for r in runs):
        return ExitCode.FAILED
    if any(r.outcome is Outcome.REGRESSION or r.changes for r in runs):
        return ExitCode.REGRESSED
    return ExitCode.OK


def write_prometheus(path: str | None, runs: list[CellRun]) -> None:
    if not path:
        return
    try:
        prometheus.write_atomic(path, prometheus.render(runs))
    except OSError as exc:
        raise OrchError(f"cannot write the Prometheus file {path}: {exc.strerror or exc}", ExitCode.FAILED) from None
