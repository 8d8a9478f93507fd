"""`orch soak --config FILE`: run a matrix of plans (TOML) through the harness, store every
run in the history, compare each with its baseline (the last good runs of the same matrix
key) and say, by exit code, whether anything regressed — for cron or a systemd timer.

Exit codes: 0 fine; 1 a regression (named on stdout and stderr); 2 the run itself failed
(a strategy with a status other than ok, an error, a bad config, or another soak of the
same config still running).

Config (see docs/history.md):

    name = "nightly"               # default: the file's stem; first part of every matrix key
    baseline_runs = 5              # how many earlier good runs make the baseline
    ttft_regression_pct = 10       # median TTFT slower by more than this (and significant)
    alpha = 0.05                   # Mann–Whitney U significance level
    growth_threshold_mb = 0.1      # the verdict threshold, and the least growth that regresses
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
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import itertools
import os
import sys
import time
import tomllib
from pathlib import Path

import click

from orchestrator.tabular import format_option, render_table

CELL_KEYS = {"name", "engine", "engine_options", "scenario", "model", "models", "audio", "reference",
             "language", "strategies", "iters", "warmup", "iter_timeout", "sample_hz", "plateau_min_tail"}
SOAK_KEYS = {"name", "baseline_runs", "ttft_regression_pct", "alpha", "growth_threshold_mb", "out", "db",
             "prometheus", "defaults", "matrix"}


class ConfigError(ValueError):
    pass


def load_config(path: str | Path) -> dict:
    path = Path(path)
    try:
        with open(path, "rb") as f:
            cfg = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    unknown = set(cfg) - SOAK_KEYS - CELL_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    for i, cell in enumerate(cfg.get("matrix") or []):
        bad = set(cell) - CELL_KEYS
        if bad:
            raise ConfigError(f"{path}: matrix[{i}]: unknown key(s) {', '.join(sorted(bad))}")
    cfg.setdefault("name", path.stem)
    cfg["_path"] = str(path.resolve())
    return cfg


def _as_list(v):
    if v is None:
        return [None]
    return list(v) if isinstance(v, list) else [v]


def expand_cells(cfg: dict) -> list[dict]:
    """Every cell of the matrix: defaults, then top-level cell keys, then the [[matrix]]
    entry; a list under `model` or `audio` makes one cell per value (their product)."""
    base = {**(cfg.get("defaults") or {}), **{k: v for k, v in cfg.items() if k in CELL_KEYS and k != "name"}}
    cells = []
    for entry in cfg.get("matrix") or [{}]:
        merged = {**copy.deepcopy(base), **copy.deepcopy(entry)}
        merged["engine_options"] = {**(base.get("engine_options") or {}), **(entry.get("engine_options") or {})}
        for model, audio in itertools.product(_as_list(merged.get("model")), _as_list(merged.get("audio"))):
            cell = dict(merged, model=model, audio=audio,
                        _expanded=[k for k in ("model", "audio") if isinstance(merged.get(k), list)])
            if not cell.get("strategies"):
                raise ConfigError("a matrix cell has no `strategies`")
            if isinstance(cell["strategies"], str):
                cell["strategies"] = [s.strip() for s in cell["strategies"].split(",") if s.strip()]
            cells.append(cell)
    return cells


def matrix_key(cfg: dict, cell: dict) -> str:
    """`<soak name>/<cell>`: the cell's `name` (plus model/audio when a list expanded it),
    else engine:scenario:model:audio:strategies. Engine options are left out on purpose, so
    a soak keeps its baseline across engine builds and option tweaks; name a cell anew to
    start a fresh baseline."""
    parts = []
    if cell.get("name"):
        parts.append(str(cell["name"]))
    else:
        parts += [cell.get("engine") or "calibration", cell.get("scenario") or "asr"]
    for k in ("model", "audio"):
        if cell.get(k) and (not cell.get("name") or k in cell.get("_expanded", ())):
            parts.append(os.path.basename(str(cell[k])))
    if cell.get("models"):
        parts.append("+".join(os.path.basename(str(m)) for m in cell["models"]))
    if not cell.get("name"):
        parts.append("+".join(cell["strategies"]))
    key = f"{cfg['name']}/{':'.join(parts)}"
    if len(key) > 200:
        key = key[:180] + "~" + hashlib.sha1(key.encode()).hexdigest()[:12]
    return key


def build_plan(cfg: dict, cell: dict):
    from orchestrator.plan import RunPlan, Thresholds

    out = cfg.get("out")
    if out:
        out_dir = Path(out) if os.path.isabs(out) else Path(cfg["_path"]).parent / out
    else:
        import platformdirs

        out_dir = Path(platformdirs.user_data_dir("orch", appauthor=False)) / "soak-results"
    models = list(cell.get("models") or ([cell["model"]] if cell.get("model") else []))
    th = Thresholds(growth_mb_per_iter=float(cfg.get("growth_threshold_mb", Thresholds.growth_mb_per_iter)),
                    plateau_min_tail=int(cell.get("plateau_min_tail", Thresholds.plateau_min_tail)))
    plan = RunPlan(strategies=list(cell["strategies"]), iters=int(cell.get("iters", 10)),
                   warmup=int(cell.get("warmup", 2)), engine=cell.get("engine") or "calibration",
                   scenario=cell.get("scenario") or "asr", models=models, audio=cell.get("audio"),
                   reference=cell.get("reference"), language=cell.get("language"), out_dir=out_dir,
                   iter_timeout=float(cell.get("iter_timeout", 120.0)),
                   sample_hz=float(cell.get("sample_hz", 20.0)), thresholds=th, progress=False)
    options = dict(cell.get("engine_options") or {})
    if plan.engine == "chatllm":
        from orchestrator.engine_options import engine_options_from_cli

        kw = {"chatllm_dir": options.pop("chatllm_dir", os.environ.get("CHATLLM_DIR", "./chatllm.cpp")),
              "chatllm_main": options.pop("main", None), "chatllm_lib": options.pop("lib", None),
              "engine_args": options.pop("engine_args", []),
              **{k: options.pop(k, None) for k in ("threads", "ctx", "max_new_tokens")}}
        resolved = engine_options_from_cli(plan, kw)
        options = {**resolved, **options}
    plan.engine_options = options
    return plan


def lock_path(config_path: str) -> Path:
    directory = os.environ.get("ORCH_LOCK_DIR")
    if not directory:
        import platformdirs

        directory = platformdirs.user_cache_dir("orch", appauthor=False)
    Path(directory).mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(os.path.realpath(config_path).encode()).hexdigest()[:16]
    return Path(directory) / f"soak-{Path(config_path).stem}-{digest}.lock"


def _ts(iso: str | None) -> float | None:
    from orchestrator.history.store import parse_time

    t = parse_time(iso)
    return None if t is None else t.replace(tzinfo=_dt.timezone.utc).timestamp()


def _run_cell(cfg, cell, key, db, settings, accept) -> dict:
    """Run one cell, store it, compare it. Returns the cell's record (for output and metrics)."""
    from orchestrator import runner
    from orchestrator.history import baseline as bl
    from orchestrator.history import store
    from orchestrator.history.store import run_status

    record = {"soak": cfg["name"], "matrix_key": key, "result": None, "outcome": "failed",
              "regressions": 0, "regression_list": [], "notes": [], "error": None}
    try:
        plan = build_plan(cfg, cell)
        from orchestrator.engine_options import preflight

        problems = preflight(plan)
        if problems:
            raise ConfigError("cannot start: " + "; ".join(problems))
    except Exception as exc:
        record["error"] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, ConfigError) else str(exc)
        record["finished"] = time.time()
        return record
    try:
        result = runner.execute(plan)
    except Exception as exc:  # RunInterrupted carries what was measured
        result = getattr(exc, "result", None)
        record["error"] = f"the run failed: {type(exc).__name__}: {exc}"
    record["finished"] = time.time()
    if result is None:
        return record
    try:
        earlier = store.list_runs(db, matrix_key=key, kind="soak", status="ok", limit=None)
        good = [r for r in earlier if r.get("outcome") == "ok" and r["run_id"] != result.get("run_id")]
        good = good[: settings["baseline_runs"]]
        baseline = [store.load_run(r["run_id"], db) for r in good]
    except Exception as exc:
        record["error"] = f"cannot read the history database: {exc}"
        baseline, good = [], []
    regressions, notes = bl.compare(result, baseline, settings["compare"])
    status = run_status(result)
    if record["error"] is None and status != "ok":
        bad = [f"{r.get('strategy')}: {r.get('status')}" + (f" ({str(r.get('error')).splitlines()[0]})"
                                                           if r.get("error") else "")
               for r in result.get("results") or [] if r.get("status") != "ok"]
        record["error"] = "the run failed: " + "; ".join(bad)
    if record["error"]:
        outcome = "failed"
    elif regressions and not accept:
        outcome = "regression"
    else:
        outcome = "ok"
    if accept and regressions and outcome == "ok":
        notes.append("--accept: stored as a good baseline despite the regressions below")
    result["soak"] = {"name": cfg["name"], "config": cfg["_path"], "matrix_key": key, "cell": cell,
                      "outcome": outcome, "regressions": regressions, "notes": notes,
                      "baseline_run_ids": [r["run_id"] for r in good], "error": record["error"]}
    try:
        runner.write_json_atomic(plan.run_dir / "run.json", result)
    except Exception:
        pass  # the database copy is the one that matters here
    try:
        store.save_run(result, db)
    except Exception as exc:
        record["error"] = f"cannot store the run in the history database: {exc}"
        outcome = "failed"
    record.update(result=result, outcome=outcome, regressions=len(regressions),
                  regression_list=regressions, notes=notes)
    return record


def _last_success(db, key, record) -> float | None:
    if record["outcome"] == "ok":
        return record["finished"]
    from orchestrator.history import store

    try:
        for r in store.list_runs(db, matrix_key=key, kind="soak", status="ok"):
            if r.get("outcome") == "ok":
                return _ts(r.get("finished_at") or r.get("started_at"))
    except Exception:
        return None
    return None


@click.command()
@click.option("--config", "config_path", required=True, type=click.Path(dir_okay=False),
              help="Soak matrix (TOML).")
@click.option("--db", help="History database (SQLite path or postgresql:// URL); default: env ORCH_DB, "
              "the config's `db`, else the user data dir.")
@click.option("--prometheus", "prom_path", type=click.Path(dir_okay=False),
              help="Write a node-exporter textfile-collector file here (atomically).")
@click.option("--baseline-runs", type=click.IntRange(1), default=None,
              help="Earlier good runs of the same matrix key to compare with (config: baseline_runs, default 5).")
@click.option("--ttft-pct", type=float, default=None,
              help="Median TTFT slower by more than this %% (and significant) regresses (default 10).")
@click.option("--alpha", type=float, default=None, help="Significance level of the TTFT test (default 0.05).")
@click.option("--accept", is_flag=True,
              help="Store this run as a good baseline even if it regressed (after an intended change).")
@format_option()
def soak(config_path, db, prom_path, baseline_runs, ttft_pct, alpha, accept, fmt):
    """Run a soak matrix, store it, compare with the baseline; exit 0 fine, 1 regression, 2 failed."""
    from filelock import FileLock, Timeout

    from orchestrator.history.baseline import Settings
    from orchestrator.output import HEADERS, result_rows

    try:
        cfg = load_config(config_path)
        cells = expand_cells(cfg)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    db = db or os.environ.get("ORCH_DB") or cfg.get("db")
    prom_path = prom_path or cfg.get("prometheus")
    settings = {
        "baseline_runs": baseline_runs or int(cfg.get("baseline_runs", 5)),
        "compare": Settings(ttft_pct=ttft_pct if ttft_pct is not None else float(cfg.get("ttft_regression_pct", 10.0)),
                            alpha=alpha if alpha is not None else float(cfg.get("alpha", 0.05)),
                            growth_threshold_mb=float(cfg.get("growth_threshold_mb", 0.1))),
    }
    lock = FileLock(str(lock_path(cfg["_path"])))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        click.echo(f"error: another soak of {cfg['_path']} is still running (lock {lock.lock_file} is held); "
                   "not starting a second one", err=True)
        sys.exit(2)
    try:
        records = []
        for cell in cells:
            key = matrix_key(cfg, cell)
            click.echo(f"soak {key}: running {', '.join(cell['strategies'])} "
                       f"({cell.get('iters', 10)} iterations, {cell.get('warmup', 2)} warm-up)", err=True)
            record = _run_cell(cfg, cell, key, db, settings, accept)
            record["last_success"] = _last_success(db, key, record)
            records.append(record)
            if record["result"] is not None:
                if fmt == "table":
                    click.echo(f"== {key}  run {record['result'].get('run_id')}  outcome {record['outcome']}")
                click.echo(render_table(HEADERS, result_rows(record["result"]), fmt))
            for note in record["notes"]:
                click.echo(f"note: {key}: {note}", err=True)
            for reg in record["regression_list"]:
                click.echo(f"REGRESSION {key}: {reg['message']}")
                click.echo(f"regression: {key}: {reg['message']}", err=True)
            if record["error"]:
                click.echo(f"FAILED {key}: {record['error']}")
                click.echo(f"error: {key}: {record['error']}", err=True)
        if prom_path:
            from orchestrator.history import prometheus

            try:
                prometheus.write_atomic(prom_path, prometheus.render(records))
            except OSError as exc:
                click.echo(f"error: cannot write {prom_path}: {exc}", err=True)
                sys.exit(2)
    finally:
        lock.release()
    failed = [r for r in records if r["outcome"] == "failed"]
    regressed = [r for r in records if r["outcome"] == "regression"]
    if failed:
        click.echo(f"soak {cfg['name']}: {len(failed)} of {len(records)} run(s) failed", err=True)
        sys.exit(2)
    if regressed:
        n = sum(r["regressions"] for r in regressed)
        click.echo(f"soak {cfg['name']}: {n} regression(s) in {len(regressed)} of {len(records)} run(s)", err=True)
        sys.exit(1)
    click.echo(f"soak {cfg['name']}: {len(records)} run(s), no regression", err=True)
    sys.exit(0)
