"""The node-exporter textfile-collector file a soak writes (`--prometheus PATH`): written to a
temporary file in the same directory, then renamed over PATH, so the collector never reads
half a file. Text exposition format 0.0.4, gauges only."""

from __future__ import annotations

import math

from orchestrator.history.soak_cell import CellRun
from orchestrator.results import figures
from orchestrator.results.atomic import write_text_atomic
from orchestrator.results.load_run import LoadRun
from orchestrator.results.model import Outcome, Status, StrategyResult, Summary, Verdict

VERDICTS = tuple(v.value for v in Verdict) + ("none",)


def _declared_help(kind: str) -> dict[str, str]:
    """The gauges of the declared figures (results.figures), each with its CI's upper end."""
    out = {}
    for f in figures.exported(kind):
        assert f.prometheus is not None
        out[f.prometheus] = f.help
        if f.ci_gauge:
            out[f.ci_gauge] = f.ci_gauge_help
    return out


HELP = {
    **_declared_help("run"),
    "orch_soak_resource_verdict": "Verdict of a resource's growth per iteration (threads, fds, maps, ...) in the "
    "last run: 1 for the verdict it had, 0 for the others.",
    "orch_soak_text_stable": "1 when every transcript was the first one under greedy decoding, 0 when one changed "
    "(absent: sampled, or no text).",
    "orch_soak_text_changed_iterations": "Iterations whose transcript differed from the first one (greedy decoding).",
    "orch_soak_text_matches_baseline": "1 when every transcript was fresh-process's first one, 0 when not "
    "(absent: no fresh-process in the run).",
    "orch_soak_verdict": "Memory verdict of the last run: 1 for the verdict it had, 0 for the others.",
    "orch_soak_load_p99_latency_ms": "Load cell: p99 latency from arrival of the level's ok requests, milliseconds.",
    "orch_soak_load_p99_ttft_ms": "Load cell: p99 time to first token from arrival, milliseconds.",
    **_declared_help("load"),
    "orch_soak_load_requests": "Load cell: the level's requests by status (sent, ok, failed, timed_out, dropped, "
    "cancelled).",
    "orch_soak_load_saturated": "Load cell: 1 when the level's queue wait kept rising (saturated).",
    "orch_soak_load_valid": "Load cell: 1 when the generator kept its schedule (p99 lateness under its bound).",
    "orch_soak_load_generator_lateness_p99_ms": "Load cell: the load generator's p99 lateness, milliseconds.",
    "orch_soak_load_mb_per_1000_requests": "Load cell: memory growth per 1000 requests (Theil-Sen slope of tree RSS), "
    "MB, per worker and for the pool.",
    "orch_soak_load_mb_per_1000_requests_ci95_high": "Load cell: upper end of that growth's 95% confidence interval, MB.",
    "orch_soak_load_alarm": "Load cell: 1 when the level went past the bound (alarm: p99_latency, goodput, memory), "
    "0 when it had the bound and stayed within it.",
    "orch_soak_strategy_ok": "1 when the strategy finished with status ok.",
    "orch_soak_regressions": "Regressions found against the baseline in the last run.",
    "orch_soak_run_failed": "1 when the last run failed (a strategy not ok, or an error).",
    "orch_soak_change_points_new": "Change points the last run brought to this matrix key's history "
    "(orch history changes), not accepted.",
    "orch_soak_last_run_timestamp_seconds": "When the last run of this matrix key finished (Unix time).",
    "orch_soak_last_success_timestamp_seconds": "When a run of this matrix key last finished with no regression "
    "and no failure (Unix time; 0 if never).",
}


def _escape(value) -> str:
    return str("" if value is None else value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _value(v: float) -> str:
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def render(cells: list[CellRun]) -> str:
    """One soak's textfile: per strategy of each cell's run its growth, timing, CER, verdict
    and status; per load cell its level's latency, throughput, goodput, requests, memory per
    1000 requests and alarms; per cell its regressions (a load cell's: its alarms), whether it failed, its new change points, when it
    last ran and last succeeded."""
    samples: dict[str, list[str]] = {name: [] for name in HELP}

    def add(name, labels, value):
        if value is None:
            return
        samples[name].append(f"{name}{_labels(labels)} {_value(value)}")

    for cell in cells:
        base = {"soak": cell.soak, "key": cell.matrix_key}
        for entry in cell.result.results if cell.result is not None else []:
            _strategy_samples(add, dict(base, strategy=entry.strategy, model=entry.model or ""), entry)
        if cell.load is not None:
            _load_samples(add, base, cell.load)
        add("orch_soak_regressions", base, len(cell.regressions))
        add("orch_soak_run_failed", base, 1 if cell.outcome is Outcome.FAILED else 0)
        if cell.changes is not None:  # looked for (the cell ran)
            add("orch_soak_change_points_new", base, len(cell.changes))
        add("orch_soak_last_run_timestamp_seconds", base, cell.finished)
        add("orch_soak_last_success_timestamp_seconds", base, cell.last_success or 0)
    lines = []
    for name, rows in samples.items():
        if not rows:
            continue
        lines.append(f"# HELP {name} {HELP[name]}")
        lines.append(f"# TYPE {name} gauge")
        lines.extend(rows)
    return "\n".join(lines) + "\n"


def _strategy_samples(add, labels: dict, entry: StrategyResult) -> None:
    s = entry.summary or Summary()
    for f in figures.exported("run"):
        add(f.prometheus, labels, f.of(s))
        ci = f.ci_of(s) if f.ci_gauge else None
        add(f.ci_gauge, labels, ci[1] if ci else None)
        if f.kind == "resource" and f.verdict_of(s):
            for v in VERDICTS[:-1]:
                add("orch_soak_resource_verdict", dict(labels, resource=f.name, verdict=v), int(v == f.verdict_of(s)))
    add("orch_soak_text_stable", labels, None if s.text_stable is None else int(s.text_stable))
    add("orch_soak_text_changed_iterations", labels, s.changed_iterations)
    add("orch_soak_text_matches_baseline", labels, None if s.matches_baseline is None else int(s.matches_baseline))
    verdict = s.verdict.value if s.verdict else "none"
    for v in VERDICTS:
        add("orch_soak_verdict", dict(labels, verdict=v), 1 if v == verdict else 0)
    add("orch_soak_strategy_ok", labels, 1 if entry.status is Status.OK else 0)


# a load cell's bounds (its config keys) and the alarm each one raises
LOAD_BOUNDS = {"p99_latency": "max_p99_latency_ms", "goodput": "min_goodput_rps", "memory": "max_mb_per_1000"}


def _load_samples(add, base: dict, run: LoadRun) -> None:
    """A load cell's level figures and, for each bound the cell set, its alarm (1 or 0)."""
    cell = run.soak.cell if run.soak is not None and run.soak.cell else {}
    for lv in run.levels:
        labels = dict(base, strategy=run.strategy or "", level=lv.arrivals)
        latency, ttft = lv.figure("latency_ms"), lv.figure("ttft_ms")
        add("orch_soak_load_p99_latency_ms", labels, latency.p99 if latency else None)
        add("orch_soak_load_p99_ttft_ms", labels, ttft.p99 if ttft else None)
        for f in figures.exported("load"):
            add(f.prometheus, labels, f.of(lv))
        for status in ("sent", "ok", "failed", "timed_out", "dropped", "cancelled"):
            add("orch_soak_load_requests", dict(labels, status=status), getattr(lv, status))
        add("orch_soak_load_saturated", labels, int(lv.saturated))
        add("orch_soak_load_valid", labels, int(lv.valid))
        add("orch_soak_load_generator_lateness_p99_ms", labels, lv.lateness_ms.p99 if lv.lateness_ms else None)
        for m in (m for m in lv.memory if m.enough):  # too few requests: no figure to watch
            add("orch_soak_load_mb_per_1000_requests", dict(labels, worker=m.who), m.mb_per_1000)
            add("orch_soak_load_mb_per_1000_requests_ci95_high", dict(labels, worker=m.who), m.ci_high)
        raised = {a.kind for a in run.alarms if a.level == lv.level}
        for alarm, key in LOAD_BOUNDS.items():
            if key in cell:
                add("orch_soak_load_alarm", dict(labels, alarm=alarm), 1 if alarm in raised else 0)


def write_atomic(path: str, text: str) -> None:
    """Replace PATH at once, mode 0644: the collector (node-exporter) runs as another user."""
    write_text_atomic(path, text, mode=0o644)
