"""Every figure orch reports, declared once (as engines/fields.py declares an engine's options,
and pyperf's _metadata.py its metadata): its name, label, unit, which way is better, how it is
rounded, where it comes from, and which outputs carry it. The comparison tables
(results/output.py, results/runtime_table.py), the HTML report, the history's columns
(history/store.py), `orch history` (history/tables.py), Prometheus (history/prometheus.py),
change points (history/changepoints.py) and `orch ab` (results/ab_table.py) read this table;
none keeps a list of its own.

Three kinds:
- `run`: a field of a strategy's Summary (results/model.py), computed by results/analysis.py;
- `resource`: a count or size read from outside at each request's after-infer mark
  (run/procfs.py `resources`), kept per iteration in `IterationRecord.resources` and fitted
  per iteration as memory is (`Summary.resources[name]`: growth per iteration, its 95% CI,
  the verdict). Adding one is: a line here and its reading in run/procfs.py;
- `load`: an attribute of a load level (results/load_run.py LoadLevel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

LOWER, HIGHER, NEITHER = "lower", "higher", "neither"
KINDS = ("run", "resource", "load")
# a growing resource fails a run only when fitted over at least this many iterations: over
# 3 or 4 a runtime that starts its threads lazily in its first requests reads as a leak
MIN_FAILING_ITERS = 5


@dataclass(frozen=True)
class Figure:
    name: str  # the Summary field / resource key / LoadLevel attribute it is read from
    label: str  # table header, chart label
    unit: str  # "ms", "MB", "MB/iter", "tok/s", "" (a ratio or a count)
    better: str  # LOWER | HIGHER | NEITHER
    nd: int  # decimals shown
    help: str  # one sentence: Prometheus HELP, docs
    kind: str = "run"
    short: str | None = None  # a compact table's header (compare --engines)
    ci: str | None = None  # the Summary field with its 95% CI [low, high]
    ci_columns: tuple[str, str] | None = None  # the history columns of that CI (default NAME_ci_low/high)
    verdict: str | None = None  # the Summary field with its verdict
    column: str | None = None  # its history column (None: not stored; resources: NAME_per_iter)
    prometheus: str | None = None  # its gauge (orch_soak_...); None: not exported
    prometheus_ci_high: str | None = None  # the gauge of its CI's upper end (default: PROMETHEUS_ci95_high)
    ci_help: str | None = None  # that gauge's HELP (default: said from `help`)
    changes: bool = False  # a change-point series of the soak history
    ab: bool = False  # compared by `orch ab` (an ABComparison field of the same name)
    ab_label: str | None = None  # its label in the A/B table (default: label)
    ab_nd: int | None = None
    limit: str | None = None  # resource: the host limit it is projected to (procfs.limits() key)
    # resource: a `growing` verdict fails run/compare (exit code 1). Not VmSize, VmHWM and
    # mapped files: those grow with memory, whose own `growing` verdict is no failure there
    fails: bool = False

    def __post_init__(self) -> None:
        assert self.kind in KINDS and self.better in (LOWER, HIGHER, NEITHER), self

    @property
    def ci_gauge(self) -> str | None:
        """The gauge of the upper end of its CI (None: no CI, or not exported)."""
        if not self.prometheus or not (self.ci or self.kind == "resource"):
            return None
        return self.prometheus_ci_high or f"{self.prometheus}_ci95_high"

    @property
    def ci_gauge_help(self) -> str:
        return self.ci_help or f"Upper end of the 95% confidence interval of: {self.help}"

    @property
    def header(self) -> str:
        return self.short or self.label

    def of(self, obj: Any) -> Any:
        """Its value in a Summary (resource: the growth per iteration), a LoadLevel or a
        stored row (StoredStrategy); None where it was not measured."""
        if obj is None:
            return None
        if self.kind == "resource" and hasattr(obj, "resources"):
            fit = (obj.resources or {}).get(self.name)
            return fit.growth_per_iter if fit is not None else None
        return getattr(obj, f"{self.name}_per_iter" if self.kind == "resource" else self.name, None)

    def ci_of(self, obj: Any) -> list[float] | None:
        if obj is None:
            return None
        if self.kind == "resource" and hasattr(obj, "resources"):
            fit = (obj.resources or {}).get(self.name)
            return fit.ci95 if fit is not None else None
        if self.ci is not None and hasattr(obj, self.ci):
            return getattr(obj, self.ci)
        cols = self.ci_column_names
        if cols and hasattr(obj, cols[0]):
            lo, hi = getattr(obj, cols[0]), getattr(obj, cols[1])
            return None if lo is None or hi is None else [lo, hi]
        return None

    def verdict_of(self, obj: Any) -> str | None:
        if obj is None:
            return None
        if self.kind == "resource" and hasattr(obj, "resources"):
            fit = (obj.resources or {}).get(self.name)
            return fit.verdict if fit is not None else None
        name = self.verdict if self.kind != "resource" else self.verdict_column
        value = getattr(obj, name, None) if name else None
        return None if value is None else str(value)

    @property
    def column_name(self) -> str | None:
        if self.kind == "resource":
            return f"{self.name}_per_iter"
        return self.column

    @property
    def ci_column_names(self) -> tuple[str, str] | None:
        if self.ci_columns is not None:
            return self.ci_columns
        if self.kind == "resource":
            return f"{self.name}_ci_low", f"{self.name}_ci_high"
        return None

    @property
    def verdict_column(self) -> str | None:
        return f"{self.name}_verdict" if self.kind == "resource" else None

    def cell(self, value: Any) -> Any:
        """The value as a table shows it: rounded to `nd` (no "-0"); a count as it is."""
        if isinstance(value, int):
            return value
        return rounded(value, self.nd)

    def ci_cell(self, ci: list[float] | None, nd: int | None = None) -> str | None:
        nd = self.nd if nd is None else nd
        if not ci or ci[0] is None or ci[1] is None:
            return None
        return f"[{rounded(ci[0], nd):.{nd}f}, {rounded(ci[1], nd):.{nd}f}]"


def rounded(v, nd=1):
    """Rounded for a table; + 0.0 turns -0.0 into 0.0 (no "-0" anywhere orch prints)."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None if v is None else v
    return round(v, nd) + 0.0


_MEMORY_HELP = "Memory growth per iteration (Theil-Sen slope of RSS), MB."

FIGURES: tuple[Figure, ...] = (
    # --- a strategy's summary (kind run)
    Figure(
        "growth_mb_per_iter",
        "growth MB/iter",
        "MB/iter",
        LOWER,
        3,
        _MEMORY_HELP,
        ci="growth_ci95",
        ci_columns=("growth_ci_low", "growth_ci_high"),
        verdict="verdict",
        column="growth_mb_per_iter",
        prometheus="orch_soak_growth_mb_per_iter",
        prometheus_ci_high="orch_soak_growth_ci95_high_mb_per_iter",
        ci_help="Upper end of the growth's 95% confidence interval, MB per iteration.",
        changes=True,
        ab=True,
    ),
    Figure("iters_ok", "iters", "", NEITHER, 0, "Iterations that finished.", column="iters_ok"),
    Figure(
        "ttft_ms_median",
        "TTFT ms (p50)",
        "ms",
        LOWER,
        1,
        "Median time to first token after warm-up, milliseconds.",
        short="TTFT ms",
        column="ttft_ms_median",
        prometheus="orch_soak_ttft_ms_median",
        changes=True,
    ),
    Figure("ttft_ms_p95", "TTFT ms (p95)", "ms", LOWER, 1, "95th percentile of TTFT.", column="ttft_ms_p95"),
    Figure("itl_ms_median", "ITL ms (p50)", "ms", LOWER, 2, "Median inter-token latency after warm-up."),
    Figure(
        "tokens_per_s_median",
        "tok/s (p50)",
        "tok/s",
        HIGHER,
        1,
        "Median tokens per second after warm-up.",
        short="tok/s",
        column="tokens_per_s_median",
        prometheus="orch_soak_tokens_per_s_median",
        changes=True,
    ),
    Figure(
        "cer_mean",
        "CER",
        "",
        LOWER,
        3,
        "Mean character error rate against the reference.",
        column="cer_mean",
        prometheus="orch_soak_cer_mean",
        changes=True,
    ),
    Figure(
        "core_h_per_audio_h",
        "core-h/audio-h",
        "",
        LOWER,
        3,
        "CPU cost: core-hours of the worker tree's CPU time (user + system) per hour of audio transcribed.",
        column="core_h_per_audio_h",
        prometheus="orch_soak_core_hours_per_audio_hour",
        changes=True,
    ),
    Figure("load_ms_median", "load ms", "ms", LOWER, 1, "Median model load time, milliseconds."),
    Figure("rtf_median", "RTF", "", LOWER, 3, "Median real-time factor (processing time / audio length)."),
    Figure(
        "rss_start_mb",
        "RSS start MB",
        "MB",
        NEITHER,
        1,
        "RSS after the first measured iteration.",
        column="rss_start_mb",
    ),
    Figure("rss_end_mb", "RSS end MB", "MB", NEITHER, 1, "RSS after the last iteration.", column="rss_end_mb"),
    Figure("rss_peak_mb", "peak MB", "MB", LOWER, 1, "Highest RSS seen.", column="rss_peak_mb"),
    # --- `orch ab`'s other two figures (its per-iteration samples, compared by shift)
    Figure("ttft_ms", "TTFT ms", "ms", LOWER, 2, "Time to first token, milliseconds.", ab=True),
    Figure("tokens_per_s", "tok/s", "tok/s", HIGHER, 1, "Tokens per second.", ab=True),
    # --- resources, read from outside at every request's after-infer mark (kind resource):
    # the figure is the growth per iteration, fitted as memory is
    Figure(
        "threads",
        "threads/iter",
        "threads/iter",
        LOWER,
        3,
        "Growth per iteration of the worker tree's thread count (Theil-Sen slope).",
        kind="resource",
        prometheus="orch_soak_threads_per_iter",
        changes=True,
        ab=True,
        limit="threads",
        fails=True,
    ),
    Figure(
        "fds",
        "fds/iter",
        "fds/iter",
        LOWER,
        3,
        "Growth per iteration of the worker tree's open file descriptors (Theil-Sen slope).",
        kind="resource",
        prometheus="orch_soak_fds_per_iter",
        changes=True,
        ab=True,
        limit="fds",
        fails=True,
    ),
    Figure(
        "maps",
        "maps/iter",
        "maps/iter",
        LOWER,
        3,
        "Growth per iteration of the worker tree's memory maps (Theil-Sen slope).",
        kind="resource",
        prometheus="orch_soak_maps_per_iter",
        changes=True,
        ab=True,
        limit="maps",
        fails=True,
    ),
    Figure(
        "mapped_file_mb",
        "mapped files MB/iter",
        "MB/iter",
        LOWER,
        3,
        "Growth per iteration of the bytes of files the worker tree maps, MB (Theil-Sen slope).",
        kind="resource",
        prometheus="orch_soak_mapped_file_mb_per_iter",
    ),
    Figure(
        "vm_size_mb",
        "VmSize MB/iter",
        "MB/iter",
        LOWER,
        3,
        "Growth per iteration of the worker tree's virtual size (VmSize), MB (Theil-Sen slope).",
        kind="resource",
        prometheus="orch_soak_vm_size_mb_per_iter",
    ),
    Figure(
        "vm_hwm_mb",
        "VmHWM MB/iter",
        "MB/iter",
        LOWER,
        3,
        "Growth per iteration of the worker tree's peak RSS (VmHWM; per request where the kernel lets "
        "orch reset it, else the running peak), MB (Theil-Sen slope).",
        kind="resource",
        prometheus="orch_soak_vm_hwm_mb_per_iter",
    ),
    # --- a load level (kind load)
    Figure(
        "throughput_rps",
        "req/s",
        "req/s",
        HIGHER,
        2,
        "Load cell: ok requests per second over the level.",
        kind="load",
        prometheus="orch_soak_load_throughput_rps",
    ),
    Figure(
        "goodput_rps",
        "goodput/s",
        "req/s",
        HIGHER,
        2,
        "Load cell: requests per second meeting the SLO (absent: no SLO).",
        kind="load",
        prometheus="orch_soak_load_goodput_rps",
    ),
    Figure("audio_s_per_s", "audio s/s", "", HIGHER, 2, "Load cell: seconds of audio served per second.", kind="load"),
    Figure(
        "core_h_per_audio_h",
        "core-h/audio-h",
        "",
        LOWER,
        3,
        "Load cell: core-hours of the workers' CPU time per hour of audio served over the level.",
        kind="load",
        column="core_h_per_audio_h",
        prometheus="orch_soak_load_core_hours_per_audio_hour",
    ),
    # --- read by `orch load --engines`' table (results/load_engines.py)
    Figure(
        "offered_rate",
        "rate req/s",
        "req/s",
        HIGHER,
        3,
        "Load level: the open-loop rate offered; the highest sustained one is the max sustainable rate.",
        kind="load",
    ),
    Figure(
        "latency_ms",
        "latency ms",
        "ms",
        LOWER,
        0,
        "Load level: a request's end from its arrival, ms (p50; p90 and p99 where the count supports them).",
        kind="load",
    ),
    Figure(
        "mb_per_1000",
        "MB/1000 req",
        "MB/1000 req",
        LOWER,
        2,
        "Load level: the pool's memory growth per 1000 requests (Theil-Sen slope of tree RSS), MB.",
        kind="load",
    ),
)


def _index() -> dict[tuple[str, str], Figure]:
    out: dict[tuple[str, str], Figure] = {}
    for f in FIGURES:
        key = ("load" if f.kind == "load" else "run", f.name)
        assert key not in out, f"figure {f.name} declared twice"
        out[key] = f
    return out


_BY_KEY = _index()


def get(name: str) -> Figure:
    """A run or resource figure by name (KeyError when none is declared)."""
    return _BY_KEY[("run", name)]


def load(name: str) -> Figure:
    """A load level's figure by name."""
    return _BY_KEY[("load", name)]


def of_kind(kind: str) -> list[Figure]:
    return [f for f in FIGURES if f.kind == kind]


def resources() -> list[Figure]:
    return of_kind("resource")


def stored(kind: str = "run") -> list[Figure]:
    """The figures that are history columns: run and resource ones (run_strategies), or a
    load level's (load_levels)."""
    kinds = ("run", "resource") if kind == "run" else ("load",)
    return [f for f in FIGURES if f.kind in kinds and f.column_name is not None]


def exported(kind: str = "run") -> list[Figure]:
    kinds = ("run", "resource") if kind == "run" else ("load",)
    return [f for f in FIGURES if f.kind in kinds and f.prometheus]


def change_metrics() -> list[Figure]:
    return [f for f in FIGURES if f.changes]


def ab_figures() -> list[Figure]:
    return [f for f in FIGURES if f.ab]
