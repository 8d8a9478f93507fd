"""The result model: typed records for an iteration, a cut-off request, a strategy's result
and a whole run, each checked when built, with one JSON map and one schema version.

Every consumer (analysis, tables, reports, history, Prometheus, soak, selftest) takes these
objects, never bare dicts; JSON is only what `to_json()` writes and `from_json()` reads.
`from_json` also reads `orch.run/1` files and database rows written before the version
bump (their missing keys get their defaults). Keys this version does not know are kept in
`other` and written back unchanged, so a newer file read by an older orch loses nothing.

The behaviour every consumer needs is here, once: `measured()` (iterations after warm-up)
and `memory_series()` (one point per iteration: the last model's record, never another
model's record standing in for a missing one).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, TypeVar

# growth per iteration under which a strategy is `stable` (and the least that regresses a soak):
# run's --growth-threshold-mb default, Thresholds' and the soak baseline's, set here once
GROWTH_THRESHOLD_MB = 0.1

SCHEMA = "orch.run/2"
READABLE_SCHEMAS = ("orch.run/1", "orch.run/2")


# the fewest measured iterations a growth per iteration (and its verdict) is given from;
# under it the table says `too few iterations` with the count
MIN_GROWTH_ITERATIONS = 3


@dataclass
class Thresholds:
    """Verdict thresholds (MB = MiB throughout orch): what analysis.verdict calls stable,
    growing or a plateau; a run plan carries them (run.plan.RunPlan.thresholds)."""

    # below this growth per iteration a strategy is `stable` even if the CI excludes 0
    growth_mb_per_iter: float = GROWTH_THRESHOLD_MB
    # a plateau needs at least this many (and this share of) post-warm-up iterations flat
    plateau_min_tail: int = 5
    plateau_min_tail_share: float = 0.3
    # and must sit at least this far above where the series started
    plateau_min_rise_mb: float = 1.0


class Status(str, enum.Enum):
    OK = "ok"
    SKIPPED = "skipped"
    CRASHED = "crashed"
    TIMEOUT = "timeout"
    ERROR = "error"
    INTERRUPTED = "interrupted"
    MEMORY_LIMIT = "memory-limit"
    RESOURCE_LIMIT = "resource-limit"

    def __str__(self) -> str:
        return self.value

    @property
    def fine(self) -> bool:
        """Counts as success for an exit code: ok, or not applicable to this scenario."""
        return self in (Status.OK, Status.SKIPPED)


class Verdict(str, enum.Enum):
    """The memory verdict (orchestrator.results.analysis): only `growing` is a leak; `shrinking` is
    memory that falls (given back), never a regression."""

    STABLE = "stable"
    PLATEAU = "plateau"
    GROWING = "growing"
    SHRINKING = "shrinking"

    def __str__(self) -> str:
        return self.value


class Outcome(str, enum.Enum):
    """What a soak made of one run: ok (also the next runs' baseline), a regression against
    the baseline, or failed (a strategy not ok, an error, a cell that could not start)."""

    OK = "ok"
    REGRESSION = "regression"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


class ResultError(ValueError):
    """A result file or row that does not hold what the schema says."""


T = TypeVar("T")


def _known(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - {"other"}


def _split(cls: type, data: Any, what: str) -> tuple[dict, dict]:
    if not isinstance(data, dict):
        raise ResultError(f"{what}: expected an object, got {type(data).__name__}")
    known = _known(cls)
    return ({k: v for k, v in data.items() if k in known}, {k: v for k, v in data.items() if k not in known})


def _plain(obj: Any) -> dict:
    """A dataclass as a JSON map: its fields (enums as their values) plus `other`."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.name == "other":
            continue
        out[f.name] = _jsonable(getattr(obj, f.name))
    out.update(getattr(obj, "other", {}) or {})
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return v.to_json() if hasattr(v, "to_json") else _plain(v)
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ResultError(message)


# ------------------------------------------------------------------ one iteration
@dataclass
class PhaseMark:
    """Memory at one phase mark, as the strategy attributes it (tree, or tree minus worker)."""

    rss_mb: float | None = None
    uss_mb: float | None = None
    self_rss_mb: float | None = None
    procs: int | None = None
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> PhaseMark:
        known, other = _split(cls, data, "phase mark")
        return cls(**known, other=other)


@dataclass
class IterationRecord:
    """One finished request (schema: docs/result-format.md)."""

    i: int
    model: str | None = None
    warmup: bool = False
    started_at: str | None = None
    ended_at: str | None = None
    ttft_ms: float | None = None
    tokens: int = 0
    tokens_per_s: float | None = None
    itl_ms_p50: float | None = None
    itl_ms_p95: float | None = None
    latency_ms: float | None = None
    rtf: float | None = None
    stream_spread_ms: float | None = None
    streamed: bool = True
    load_ms: float | None = None
    chunks: int = 0
    text_raw: str = ""
    text: str = ""
    cer: float | None = None
    wer: float | None = None
    rss_mb: float | None = None
    uss_mb: float | None = None
    pss_mb: float | None = None
    worker_rss_mb: float | None = None
    peak_rss_mb: float | None = None
    phases: dict[str, PhaseMark] = field(default_factory=dict)
    # request -> first token broken into what the engine lets us see (ms by phase name,
    # e.g. audio decode, encode + prefill, first token; one-shot cli: process start + load)
    ttft_phases: dict[str, float] | None = None
    alignment: dict | None = None
    # the worker tree's resources at the after-infer mark (results.figures, kind resource:
    # threads, fds, maps, mapped_file_mb, vm_size_mb, vm_hwm_mb), read from outside
    resources: dict[str, float] | None = None
    # the worker tree's CPU seconds (user + system, reaped children included) from the
    # before-infer mark to the after-infer mark: what this request cost
    cpu_s: float | None = None
    extra: dict = field(default_factory=dict)
    other: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        _require(
            isinstance(self.i, int) and not isinstance(self.i, bool) and self.i >= 1,
            f"iteration index must be an integer >= 1, not {self.i!r}",
        )

    @property
    def key(self) -> tuple[int, str | None]:
        return self.i, self.model

    def phase_rss(self, name: str) -> float | None:
        mark = self.phases.get(name)
        return mark.rss_mb if mark else None

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> IterationRecord:
        known, other = _split(cls, data, "iteration record")
        known["phases"] = {k: PhaseMark.from_json(v) for k, v in (known.get("phases") or {}).items()}
        known["extra"] = known.get("extra") or {}
        return cls(**known, other=other)


@dataclass
class PartialIteration:
    """The request a crash, timeout or Ctrl-C cut off: kept, never in the statistics."""

    i: int
    chunks: int = 0
    text_so_far: str = ""
    ttft_ms: float | None = None
    tokens: int = 0
    itl_ms_p50: float | None = None
    elapsed_s: float | None = None
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> PartialIteration | None:
        if data is None:
            return None
        known, other = _split(cls, data, "partial iteration")
        return cls(**known, other=other)


# ------------------------------------------------------------------ summaries
@dataclass
class ResourceFit:
    """One resource over the measured iterations (results.figures, kind resource): where it
    started and ended, its growth per iteration with a 95% CI and verdict (as memory's), and
    where a limit exists, the limit and how many more iterations reach it at that growth."""

    start: float | None = None
    end: float | None = None
    growth_per_iter: float | None = None
    ci95: list[float] | None = None
    verdict: str | None = None
    limit: float | None = None
    iters_to_limit: float | None = None
    note: str | None = None  # how it was read (VmHWM: per request, or the running peak)
    n: int | None = None  # the iterations fitted
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> ResourceFit:
        known, other = _split(cls, data, "resource fit")
        return cls(**known, other=other)


@dataclass
class Summary:
    """A strategy's statistics (analysis.summarize)."""

    iters_ok: int = 0
    iters_measured: int = 0
    ttft_ms_median: float | None = None
    ttft_ms_p95: float | None = None
    itl_ms_median: float | None = None
    itl_ms_p95: float | None = None
    tokens_per_s_median: float | None = None
    latency_ms_median: float | None = None
    latency_ms_p95: float | None = None
    load_ms_median: float | None = None
    rtf_median: float | None = None
    rss_start_mb: float | None = None
    rss_end_mb: float | None = None
    rss_peak_mb: float | None = None
    growth_mb_per_iter: float | None = None
    growth_ci95: list[float] | None = None
    verdict: Verdict | None = None
    plateau_from: int | None = None
    uss_growth_mb_per_iter: float | None = None
    uss_growth_ci95: list[float] | None = None
    cer_mean: float | None = None
    wer_mean: float | None = None
    empty_outputs: int | None = None
    # a run the memory guard stopped: what the planned iterations would have needed at the
    # growth measured so far (RSS after the last planned iteration, MB)
    projected_rss_mb: float | None = None
    # median of each TTFT phase over the measured iterations that report it (ms)
    ttft_phases_median: dict[str, float] | None = None
    # growth per second of audio transcribed (growth per iteration / the audio's length)
    growth_mb_per_audio_s: float | None = None
    # --idle-s: the tree at the after_idle mark, and what came back since the last request's
    # last mark (after_unload, else after_infer); None without an idle mark
    idle_rss_mb: float | None = None
    idle_returned_mb: float | None = None
    # transcript drift under greedy decoding (orchestrator.results.drift); None: sampled
    # decoding, no text, or nothing to compare. text_stable: every iteration's text is the
    # first iteration's; first_changed_at: the first iteration whose text is not;
    # changed_iterations: how many are not; edit_distance_mean: mean characters inserted,
    # deleted or replaced to the first text; matches_baseline: every text is the
    # fresh-process baseline's first text (a compare where fresh-process ran)
    text_stable: bool | None = None
    first_changed_at: int | None = None
    changed_iterations: int | None = None
    edit_distance_mean: float | None = None
    matches_baseline: bool | None = None
    # CPU cost: median CPU seconds of the worker tree per measured request, and core-hours
    # of CPU per hour of audio (their sum over the audio's: a ratio)
    cpu_s_median: float | None = None
    core_h_per_audio_h: float | None = None
    # per resource (results.figures, kind resource): its fit over the measured iterations
    resources: dict[str, ResourceFit] | None = None
    other: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict is not None and not isinstance(self.verdict, Verdict):
            try:
                self.verdict = Verdict(self.verdict)
            except ValueError:
                raise ResultError(f"unknown verdict {self.verdict!r}") from None

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> Summary | None:
        if data is None:
            return None
        known, other = _split(cls, data, "summary")
        if known.get("resources") is not None:
            known["resources"] = {k: ResourceFit.from_json(v) for k, v in known["resources"].items()}
        return cls(**known, other=other)


@dataclass
class MeanCI:
    mean: float
    ci95: list[float]
    n: int

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> MeanCI | None:
        return None if data is None else cls(data["mean"], list(data["ci95"]), data["n"])


@dataclass
class ModelSwitch:
    """Scenario switch, one model: what a load adds, an unload gives back, a switch keeps."""

    iters: int = 0
    load_overhead_mb: MeanCI | None = None
    released_at_unload_mb: MeanCI | None = None
    kept_per_switch_mb: MeanCI | None = None
    load_ms_median: float | None = None
    ttft_ms_median: float | None = None
    tokens_per_s_median: float | None = None
    cer_mean: float | None = None
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> ModelSwitch:
        known, other = _split(cls, data, "per-model block")
        for k in ("load_overhead_mb", "released_at_unload_mb", "kept_per_switch_mb"):
            known[k] = MeanCI.from_json(known.get(k))
        return cls(**known, other=other)


@dataclass
class AlignmentSummary:
    iters_with_violations: int = 0
    violations_total: int = 0
    parse_failures: int = 0

    def to_json(self) -> dict:
        return _plain(self)


# ------------------------------------------------------------------ a strategy, a run
# ------------------------------------------------------------------ leak attribution (orch attribute)
@dataclass
class AttributedStack:
    """A call stack whose allocations made in one iteration are still live at the end:
    MiB per iteration (mean over the counted iterations), in how many of them it was seen,
    and its frames innermost first as "function file:line" (or "library+offset")."""

    name: str
    mib_per_iter: float
    iterations_seen: int
    frames: list[str] = field(default_factory=list)
    # with resident weighting: the bytes requested, of which mib_per_iter are resident
    requested_mib_per_iter: float | None = None

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> AttributedStack:
        known, _other = _split(cls, data, "attributed stack")
        return cls(**known)


@dataclass
class Attribution:
    """A strategy's `attribution` block (orchestrator.studies.attribution): what a native allocation
    tracer says keeps the memory that grows per iteration. `weighting` says whether bytes
    are requested or resident; `explained_fraction` is attributed ÷ measured growth."""

    tracer: str
    weighting: str = "requested"
    iterations: list[int] = field(default_factory=list)
    measured_growth_mb_per_iter: float | None = None
    traced_growth_mb_per_iter: float | None = None
    attributed_mb_per_iter: float | None = None
    unattributed_mb_per_iter: float | None = None
    explained_fraction: float | None = None
    wall_s: float | None = None  # the traced run
    overhead_factor: float | None = None  # its wall time ÷ the untraced run's
    analysis_s: float | None = None  # reading the capture afterwards
    capture: str | None = None
    stacks: list[AttributedStack] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        out = _plain(self)
        out["stacks"] = [s.to_json() for s in self.stacks]
        return out

    @classmethod
    def from_json(cls, data: Any) -> Attribution | None:
        if data is None:
            return None
        known, other = _split(cls, data, "attribution")
        _require("tracer" in known, "attribution without a tracer")
        known["stacks"] = [AttributedStack.from_json(x) for x in known.get("stacks") or []]
        known["iterations"] = list(known.get("iterations") or [])
        known["notes"] = list(known.get("notes") or [])
        return cls(**known, other=other)


@dataclass
class HostLimits:
    """The host's own ceilings, measured by orch in a subprocess before any worker runs
    (orchestrator.run.host_limits): memory bandwidth from a large copy, and the
    matrix-multiply peak at the run's thread count. Kept as the host block's `limits`."""

    schema: str = "orch.host-limits/1"
    threads: int | None = None
    bandwidth_gb_s: float | None = None  # best of `repeats` copies: bytes read + written per second (1e9)
    # the copies' median and spread (IQR / median): how much the probe itself moved
    bandwidth_median_gb_s: float | None = None
    bandwidth_spread: float | None = None
    copy_mb: int | None = None
    matmul_gflops: float | None = None  # best of `repeats` float32 n x n products: 2 n^3 per second (1e9)
    matmul_median_gflops: float | None = None
    matmul_spread: float | None = None  # IQR / median of the products
    matmul_n: int | None = None
    repeats: int | None = None
    blas: str | None = None  # numpy's BLAS, as numpy names it
    seconds: float | None = None  # the probe's wall time
    error: str | None = None  # why a figure is missing
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> HostLimits | None:
        if data is None:
            return None
        known, other = _split(cls, data, "host limits")
        return cls(**known, other=other)


@dataclass
class RuntimeLimits:
    """One strategy's figures against the host's limits (orchestrator.results.limits): decode
    speed against memory bandwidth, encode+prefill against the matrix-multiply peak. None
    where a figure is unknown (no streamed tok/s, no profile of the model, no host limit)."""

    precision: str | None = None
    decode_bytes_per_token: float | None = None
    decode_limit_tok_s: float | None = None  # bandwidth / bytes per token
    decode_pct: float | None = None  # streamed tok/s / the limit, in %
    encode_prefill_gflop: float | None = None  # approximate work from audio to the first token
    encode_prefill_gflops: float | None = None  # that work / TTFT
    encode_prefill_pct: float | None = None  # / the host's matmul peak, in %
    note: str | None = None  # why figures are missing
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> RuntimeLimits | None:
        if data is None:
            return None
        known, other = _split(cls, data, "runtime limits")
        return cls(**known, other=other)


@dataclass
class StrategyResult:
    strategy: str
    scenario: str = "asr"
    model: str | None = None
    status: Status = Status.OK
    error: str | None = None
    iterations: list[IterationRecord] = field(default_factory=list)
    teardown: list[str] = field(default_factory=list)
    engine_info: dict | None = None
    summary: Summary | None = None
    samples: list[list] = field(default_factory=list)
    partial: PartialIteration | None = None
    per_model: dict[str, ModelSwitch] | None = None
    alignment: AlignmentSummary | None = None
    # `orch ab`: the comparison of two sides for this strategy (orchestrator/studies/ab.py); only
    # an A/B run has it, and only then is the key written
    ab: ABComparison | None = None
    # `orch attribute`: the call stacks that keep the growth (orchestrator.studies.attribution);
    # written only when present, like `ab`
    attribution: Attribution | None = None
    # `orch compare --engines`: the engine this entry ran on (one run holds several) and its
    # figures against the host's limits; written only when present, like `ab`
    engine: str | None = None
    limits: RuntimeLimits | None = None
    # the host's 1-minute load average when the strategy started and when it ended (the
    # decision marks a row noisy when it passes a bound: orchestrator.results.decision);
    # written only when measured
    host_load: list[float] | None = None
    other: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            try:
                self.status = Status(self.status)
            except ValueError:
                raise ResultError(f"{self.strategy}: unknown status {self.status!r}") from None

    def measured(self) -> list[IterationRecord]:
        """The iterations the statistics use: every finished request after warm-up."""
        return [it for it in self.iterations if not it.warmup]

    def memory_series(self, measured_only: bool = True) -> list[IterationRecord]:
        """One record per iteration for memory over time: with several models per
        iteration (scenario switch) the last model's record of each, and an iteration that
        lacks it is left out — never another model's record standing in for it (that
        would draw the models' difference as growth)."""
        its = self.measured() if measured_only else self.iterations
        return memory_series(self.iterations, its)

    def to_json(self) -> dict:
        out = _plain(self)
        if out.get("ab") is None:  # only an A/B run's results have the block
            out.pop("ab", None)
        for key in ("attribution", "engine", "limits", "host_load"):
            if out.get(key) is None:
                out.pop(key, None)
        return out

    @classmethod
    def from_json(cls, data: Any) -> StrategyResult:
        known, other = _split(cls, data, "strategy result")
        _require("strategy" in known, "strategy result without a strategy name")
        known["iterations"] = [IterationRecord.from_json(x) for x in known.get("iterations") or []]
        known["teardown"] = list(known.get("teardown") or [])
        known["samples"] = list(known.get("samples") or [])
        known["summary"] = Summary.from_json(known.get("summary"))
        known["partial"] = PartialIteration.from_json(known.get("partial"))
        if known.get("per_model") is not None:
            known["per_model"] = {k: ModelSwitch.from_json(v) for k, v in known["per_model"].items()}
        if known.get("alignment") is not None:
            known["alignment"] = AlignmentSummary(**known["alignment"])
        known["ab"] = ABComparison.from_json(known.get("ab"))
        known["attribution"] = Attribution.from_json(known.get("attribution"))
        known["limits"] = RuntimeLimits.from_json(known.get("limits"))
        return cls(**known, other=other)


# ------------------------------------------------------------------ an A/B run (orch ab)
class ABVerdict(str, enum.Enum):
    """What `orch ab` says of side B against side A, for one strategy."""

    FIXED = "fixed"  # A's memory grows, B's does not (or A failed and B runs without growing)
    STILL_GROWS = "still grows"  # B's memory grows (less, as much, or A failed and B runs)
    REGRESSED = "regressed"  # B is worse: grows more, slower, or fails where A did not
    IMPROVED = "improved"  # B is better in a figure, and nothing of the above
    NO_DIFFERENCE = "no difference"

    def __str__(self) -> str:
        return self.value


@dataclass
class ABMetric:
    """One figure on both sides: A, B, B − A and its 95% CI (`method` says how it was made;
    `a_ci95`/`b_ci95`: each side's own CI where the figure has one)."""

    a: float | None = None
    b: float | None = None
    diff: float | None = None
    ci95: list[float] | None = None
    a_ci95: list[float] | None = None
    b_ci95: list[float] | None = None
    method: str | None = None
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> ABMetric | None:
        if data is None:
            return None
        known, other = _split(cls, data, "A/B figure")
        return cls(**known, other=other)


@dataclass
class ABRound:
    """One round of an A/B run for one strategy: side A's result, then side B's."""

    round: int
    a: StrategyResult | None = None
    b: StrategyResult | None = None
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> ABRound:
        known, other = _split(cls, data, "A/B round")
        _require("round" in known, "A/B round without its number")
        for side in ("a", "b"):
            if known.get(side) is not None:
                known[side] = StrategyResult.from_json(known[side])
        return cls(**known, other=other)


AB_METRICS = ("growth_mb_per_iter", "ttft_ms", "tokens_per_s")


@dataclass
class ABComparison:
    """A strategy's `ab` block: per figure {a, b, diff, ci95}, the verdict and why, what
    each side was given, and every round of both sides (their full results)."""

    verdict: ABVerdict | None = None
    reasons: list[str] = field(default_factory=list)
    growth_mb_per_iter: ABMetric | None = None
    ttft_ms: ABMetric | None = None
    tokens_per_s: ABMetric | None = None
    options: dict[str, str] = field(default_factory=dict)  # {"a": "--leak-mb 0", "b": …}
    rounds: list[ABRound] = field(default_factory=list)
    # growth per iteration of each resource (results.figures, kind resource, ab) on both sides
    resources: dict[str, ABMetric] = field(default_factory=dict)
    other: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict is not None and not isinstance(self.verdict, ABVerdict):
            try:
                self.verdict = ABVerdict(self.verdict)
            except ValueError:
                raise ResultError(f"unknown A/B verdict {self.verdict!r}") from None

    def metric(self, name: str) -> ABMetric | None:
        return getattr(self, name) if name in AB_METRICS else self.resources.get(name)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> ABComparison | None:
        if data is None:
            return None
        known, other = _split(cls, data, "A/B block")
        for name in AB_METRICS:
            known[name] = ABMetric.from_json(known.get(name))
        known["reasons"] = list(known.get("reasons") or [])
        known["options"] = dict(known.get("options") or {})
        known["rounds"] = [ABRound.from_json(r) for r in known.get("rounds") or []]
        known["resources"] = {
            k: m for k, v in (known.get("resources") or {}).items() if (m := ABMetric.from_json(v)) is not None
        }
        return cls(**known, other=other)


def memory_series(all_records: list[IterationRecord], candidates: list[IterationRecord]) -> list[IterationRecord]:
    """The one "last model per i" rule (see StrategyResult.memory_series)."""
    models = list(dict.fromkeys(it.model for it in all_records))
    if not models:
        return []
    last = models[-1]
    per_i = {it.i: it for it in candidates if it.model == last and it.rss_mb is not None}
    return [per_i[i] for i in sorted(per_i)]


# ------------------------------------------------------------------ a soak's verdict on a run
# the measurements each kind of regression names (baseline.compare), in the order written
REGRESSION_FIELDS = {
    "growing": ("growth_mb_per_iter", "growth_ci95"),
    "growth": ("growth_mb_per_iter", "baseline_ci_high"),
    "ttft": ("ttft_ms_median", "baseline_ttft_ms_median", "slower_pct", "p_value"),
    "drift": ("first_changed_at", "changed_iterations", "matches_baseline"),
}


@dataclass
class Regression:
    """One way a run is worse than its baseline (history/baseline.py): a new `growing`
    verdict, growth above the baseline's CI, a significantly slower median TTFT, or a
    transcript that changed under greedy decoding (drift: a failure in any run)."""

    kind: str  # growing | growth | ttft | drift
    strategy: str
    model: str | None = None
    message: str = ""
    growth_mb_per_iter: float | None = None
    growth_ci95: list[float] | None = None
    baseline_ci_high: float | None = None
    ttft_ms_median: float | None = None
    baseline_ttft_ms_median: float | None = None
    slower_pct: float | None = None
    p_value: float | None = None
    first_changed_at: int | None = None
    changed_iterations: int | None = None
    matches_baseline: bool | None = None
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Its kind's keys only, as stored since soak runs began: kind, strategy, model, the
        measurements (REGRESSION_FIELDS), message."""
        names = REGRESSION_FIELDS.get(self.kind) or tuple(
            f.name
            for f in dataclasses.fields(self)
            if f.name not in ("kind", "strategy", "model", "message", "other") and getattr(self, f.name) is not None
        )
        out = {"kind": self.kind, "strategy": self.strategy, "model": self.model}
        out.update({name: _jsonable(getattr(self, name)) for name in names})
        out["message"] = self.message
        out.update(self.other)
        return out

    @classmethod
    def from_json(cls, data: Any) -> Regression:
        known, other = _split(cls, data, "regression")
        _require("kind" in known and "strategy" in known, "regression without a kind or strategy")
        return cls(**known, other=other)


@dataclass
class SoakInfo:
    """The `soak` block of a run a soak stored: which matrix cell, what came of it, against
    which baseline runs."""

    name: str | None = None  # the soak's name (first part of the matrix key)
    config: str | None = None  # the config file's path
    matrix_key: str | None = None
    cell: dict | None = None  # the config cell the run was built from
    outcome: Outcome | None = None
    regressions: list[Regression] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    baseline_run_ids: list[str] = field(default_factory=list)
    error: str | None = None
    other: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome is not None and not isinstance(self.outcome, Outcome):
            try:
                self.outcome = Outcome(self.outcome)
            except ValueError:
                raise ResultError(f"unknown soak outcome {self.outcome!r}") from None

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> SoakInfo | None:
        if data is None:
            return None
        known, other = _split(cls, data, "soak block")
        known["regressions"] = [Regression.from_json(r) for r in known.get("regressions") or []]
        known["notes"] = list(known.get("notes") or [])
        known["baseline_run_ids"] = list(known.get("baseline_run_ids") or [])
        return cls(**known, other=other)


@dataclass
class WorkerEnvironment:
    """The run's `environment` block: the workers' environment as far as memory and speed
    go (orchestrator.run.worker_env builds it from an allow list, not from orch's own).
    `variables`: every variable that can change either, as the workers got it (None: not
    set); `passed`: the names the user passed through (--worker-env; their values only
    where they are in `variables`); `dropped`: such variables set in orch's own environment
    that the workers did not get."""

    variables: dict[str, str | None] = field(default_factory=dict)
    passed: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    other: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return _plain(self)

    @classmethod
    def from_json(cls, data: Any) -> WorkerEnvironment | None:
        if data is None:
            return None
        known, other = _split(cls, data, "environment block")
        variables = known.get("variables") or {}
        _require(isinstance(variables, dict), "environment block: variables is not an object")
        known["variables"] = dict(variables)
        known["passed"] = list(known.get("passed") or [])
        known["dropped"] = list(known.get("dropped") or [])
        return cls(**known, other=other)


@dataclass
class RunResult:
    run_id: str
    started_at: str | None = None
    finished_at: str | None = None
    host: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)  # {"name": ..., **engine options}
    plan: dict = field(default_factory=dict)  # RunPlan.describe()
    # the workers' environment (a run from before the block has none: the key is not written)
    environment: WorkerEnvironment | None = None
    results: list[StrategyResult] = field(default_factory=list)
    schema: str = SCHEMA
    soak: SoakInfo | None = None  # a soak's run: its matrix key, outcome, regressions
    # a comparison's decision (orchestrator.results.decision.Decision.to_json): safe rows, the
    # fastest safe choices, noisy rows; written only for a comparison
    decision: dict | None = None
    other: dict = field(default_factory=dict)

    @property
    def engine_name(self) -> str | None:
        return self.engine.get("name")

    @property
    def ok(self) -> bool:
        return all(r.status.fine for r in self.results)

    @property
    def host_limits(self) -> HostLimits | None:
        """The host block's measured limits (`orch compare --engines`), typed; None without."""
        return HostLimits.from_json(self.host.get("limits"))

    def result(self, strategy: str) -> StrategyResult | None:
        return next((r for r in self.results if r.strategy == strategy), None)

    def to_json(self) -> dict:
        out = _plain(self)
        out["schema"] = SCHEMA
        if out.get("soak") is None:  # only a soak's run has the block
            out.pop("soak", None)
        if out.get("environment") is None:
            out.pop("environment", None)
        if out.get("decision") is None:
            out.pop("decision", None)
        # the schema first, as in every file written so far
        return {"schema": out.pop("schema"), **out}

    @classmethod
    def from_json(cls, data: Any) -> RunResult:
        known, other = _split(cls, data, "run result")
        schema = known.get("schema")
        _require(
            schema in READABLE_SCHEMAS,
            f"unknown result schema {schema!r}: this orch reads {', '.join(READABLE_SCHEMAS)}",
        )
        _require("run_id" in known, "run result without a run_id")
        known["results"] = [StrategyResult.from_json(r) for r in known.get("results") or []]
        known["host"] = known.get("host") or {}
        known["engine"] = known.get("engine") or {}
        known["plan"] = known.get("plan") or {}
        known["soak"] = SoakInfo.from_json(known.get("soak"))
        known["environment"] = WorkerEnvironment.from_json(known.get("environment"))
        known["schema"] = SCHEMA  # read as /2 from here on; written as /2
        return cls(**known, other=other)
