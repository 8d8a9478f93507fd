"""What a run is asked to do: one data object shared by `run`, `compare`, `ab`, `attribute`,
`retention`, `reproduce`, `selftest` and `soak`, so every entry point drives the harness the
same way. Its field defaults are the run's defaults for what a user does not give (the
command line shows them); the engines' option defaults are their options' own
(orchestrator.engines.options), the memory guard's is set by `RunPlan.build` from the memory
available, and a few commands set their own (`reproduce`'s experiments, `selftest`'s runs,
soak's output folder). `RunPlan.build(PlanInputs)` is the one constructor every entry point
uses; what it decides on the user's behalf comes back as notes, for the command to print."""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engines import decoding as dec
from orchestrator.engines import options as eo
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.planning import guess_language
from orchestrator.errors import read_text_file
from orchestrator.quality.pipeline import find_reference
from orchestrator.results.model import Thresholds
from orchestrator.run import strategies as registry
from orchestrator.run import worker_env
from orchestrator.run.audio import audio_seconds
from orchestrator.run.plan_inputs import PlanInputs, plan_from_inputs

SCENARIOS = ("asr", "switch", "align")
NO_STRATEGY = "no strategy given"
ENGINES = engine_registry.NAMES  # the command line's choices (a registered engine runs too)


def new_run_id(now: _dt.datetime | None = None) -> str:
    """Sortable and unique enough for two cron runs started in the same second."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass
class RunPlan:
    strategies: list[str]
    iters: int = 10
    warmup: int = 2
    engine: str = "calibration"
    # engine-specific options (orchestrator.engines.options; a dict is typed on construction)
    engine_options: Any = field(default_factory=dict)
    scenario: str = "asr"
    # greedy: the same input gives the same text, so a changed text is a finding (engines/decoding.py)
    decoding: str = dec.DEFAULT_DECODING
    # for scenario `switch`: the models loaded in turn; otherwise [model] or []
    models: list[str] = field(default_factory=list)
    audio: str | None = None
    reference: str | None = None  # reference transcript file (quality scoring)
    transcript: str | None = None  # forced-alignment input transcript
    language: str | None = None
    out_dir: Path = Path("orch-results")
    run_id: str = field(default_factory=new_run_id)
    iter_timeout: float = 120.0
    sample_hz: float = 20.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    json_path: Path | None = None
    progress: bool = False
    # per-worker-tree memory limit (MB); None: no guard (RunPlan.build sets the default)
    max_rss_mb: float | None = None
    # the resource guard: a worker whose tree reaches this share of a resource's limit
    # (threads, fds, maps: run.procfs.resource_limits) is stopped (status resource-limit); 0: off
    resource_guard: float = 0.9
    # seconds a long-lived worker waits after its last request before one more mark
    # (`after_idle`): what memory comes back at rest; 0: none
    idle_s: float = 0.0
    # variables passed to the workers beyond the allow list (orchestrator.run.worker_env):
    # name -> value, or None for orch's own value
    worker_env: dict[str, str | None] = field(default_factory=dict)
    # what was wrong with the engine's options (RunPlan.build sets it; validate() names it)
    option_problems: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.engine_options, dict) and eo.options_class(self.engine) is not None:
            self.engine_options = eo.from_mapping(self.engine, self.engine_options)

    @classmethod
    def build(cls, given: PlanInputs) -> tuple[RunPlan, list[str]]:
        """The plan from what the user gave (command line or soak cell), with the defaults
        above for what they did not; and notes on what was decided for them."""
        return plan_from_inputs(cls, given)

    @functools.cached_property
    def audio_s(self) -> float | None:
        """The audio's length in seconds, read once (audio.AudioError if it is no audio)."""
        return audio_seconds(self.audio) if self.audio else None

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.run_id

    def model_label(self) -> str | None:
        if self.models:
            return ",".join(os.path.basename(m) for m in self.models)
        return None

    @property
    def reference_file(self) -> str | None:
        """The reference transcript the run scores against: --reference, else X.txt beside
        the audio X.wav when there is one (not for align, whose X.txt is the words to align)."""
        if self.scenario == "align" and not self.reference:
            return None
        return find_reference(self.audio or "", self.reference)

    @property
    def transcript_file(self) -> str | None:
        """The words to align (scenario align): --transcript, else X.txt beside X.wav."""
        if self.scenario != "align":
            return self.transcript
        return find_reference(self.audio or "", self.transcript)

    def scoring_language(self) -> str | None:
        """The language transcripts are scored in: --language; else the per-file guess every
        command makes (orchestrator.quality.pipeline.file_language: the reference's CJK, the
        audio's name), so the same reference is scored the same way whatever the engine
        answers; None without a reference (align: nothing is scored as text)."""
        if self.language:
            return self.language
        if self.scenario == "align" or not self.reference_file:
            return None
        language, _why = guess_language(self)
        return language

    def transcript_text(self) -> str | None:
        """The forced-alignment transcript (scenario align): --transcript or X.txt beside X.wav.
        Read once."""
        return self._transcript

    @functools.cached_property
    def _transcript(self) -> str | None:
        path = self.transcript_file if self.scenario == "align" else None
        if not path:
            return None
        return read_text_file(path, "transcript").strip()

    def validate(self, label=lambda key: key) -> list[str]:
        """What is wrong with the plan itself (not its input files), one line each: unknown
        or repeated strategies, a scenario without what it needs, numbers out of range.
        Empty when the plan can run. `run`, `compare` and `soak` check it before any worker;
        `label(key)` names a number's option (`--iter-timeout` on the command line)."""
        problems = []
        if self.engine not in engine_registry.REGISTRY:
            problems.append(f"unknown engine {self.engine!r}: choose from {', '.join(engine_registry.REGISTRY)}")
        if self.scenario not in SCENARIOS:
            problems.append(f"unknown scenario {self.scenario!r}: choose from {', '.join(SCENARIOS)}")
        why = dec.problem(self.decoding)
        if why:
            problems.append(f"{label('decoding')} {why}")
        problems += self._strategy_problems()
        spec = engine_registry.REGISTRY.get(self.engine)
        problems += spec.models_problems(self.models) if spec else []
        if self.scenario == "switch" and len(self.models) < 2:
            problems.append(
                'scenario switch needs two or more models (--models A,B; in a soak config models = ["A", "B"])'
            )
        if self.scenario in ("asr", "align") and len(self.models) > 1:
            problems.append(
                f"scenario {self.scenario} takes one model (--model PATH), not {len(self.models)} "
                f"({', '.join(map(str, self.models))}): several models are for --scenario switch"
            )
        values = {
            "iters": self.iters,
            "warmup": self.warmup,
            "iter_timeout": self.iter_timeout,
            "sample_hz": self.sample_hz,
            "idle_s": self.idle_s,
            "growth_threshold_mb": self.thresholds.growth_mb_per_iter,
            "plateau_min_tail": self.thresholds.plateau_min_tail,
        }
        if self.max_rss_mb is not None:  # None: no guard
            values["max_rss_mb"] = self.max_rss_mb
        values["resource_guard"] = self.resource_guard
        for key, value in values.items():
            why = limit_problem(key, value)
            if why:
                problems.append(f"{label(key)} {why}")
        if not limit_problem("idle_s", self.idle_s) and not limit_problem("iter_timeout", self.iter_timeout):
            if self.idle_s >= self.iter_timeout:
                problems.append(
                    f"{label('idle_s')} {self.idle_s:g} must be under {label('iter_timeout')} "
                    f"{self.iter_timeout:g} (the parent would take the idle worker for hung)"
                )
        problems += [f"{label('worker_env')}: {why}" for why in worker_env.problems(self.worker_env)]
        for problem in self.option_problems:  # the engine's options, as RunPlan.build found them
            key, _, why = problem.partition(" ")
            problems.append(
                f"{label(key)} {why}"
                if eo.options_class(self.engine) is not None and key in eo.known_keys(self.engine)
                else problem
            )
        return problems

    def _strategy_problems(self) -> list[str]:
        """None given, an unknown one, one given twice."""
        problems = []
        known = registry.NAMES
        if not self.strategies:
            problems.append(f"{NO_STRATEGY}: choose from {', '.join(known)}")
        unknown = [s for s in self.strategies if s not in known]
        if unknown:
            problems.append(f"unknown strategy {', '.join(map(repr, unknown))}: choose from {', '.join(known)}")
        repeated = sorted({s for s in self.strategies if self.strategies.count(s) > 1}, key=self.strategies.index)
        if repeated:
            problems.append(
                f"strategy {', '.join(repeated)} given more than once (each strategy "
                "writes its own <strategy>.jsonl in the run folder)"
            )
        return problems

    def describe(self, audio_s: float | None = None) -> dict:
        """The plan as the result JSON records it."""
        return {
            "strategies": list(self.strategies),
            "iters": self.iters,
            "warmup": self.warmup,
            "scenario": self.scenario,
            "decoding": self.decoding,
            "models": list(self.models),
            "audio": self.audio,
            "audio_s": audio_s,
            "reference": self.reference_file,  # what was used: the sidecar X.txt too
            "transcript": self.transcript_file,
            "language": self.language,
            "iter_timeout": self.iter_timeout,
            "sample_hz": self.sample_hz,
            "max_rss_mb": self.max_rss_mb,
            "resource_guard": self.resource_guard,
            "idle_s": self.idle_s,
            "thresholds": vars(self.thresholds),
        }


# caps on absurd values, each with why (`orch run --help` says both)
MAX_ITERS = 1_000_000
MAX_ITERS_WHY = (
    "each iteration is a record of about 1 KB that the result keeps in memory and run.json "
    "rewrites after every strategy: a million is about 1 GB per strategy"
)
MAX_SAMPLE_HZ = 1000.0
MAX_SAMPLE_HZ_WHY = (
    "a sample reads /proc for every process of the worker's tree, about 0.1 ms a read: "
    "faster, the sampler takes a large share of a core and disturbs what it measures"
)

# the numbers a plan takes: (kind, least value, whether the least value itself is out,
# greatest value or None, why the greatest)
LIMITS = {
    "iters": (int, 1, False, MAX_ITERS, MAX_ITERS_WHY),
    "warmup": (int, 0, False, None, ""),
    "iter_timeout": (float, 0, True, None, ""),
    "sample_hz": (float, 0, False, MAX_SAMPLE_HZ, MAX_SAMPLE_HZ_WHY),
    "idle_s": (float, 0, False, None, ""),
    "growth_threshold_mb": (float, 0, False, None, ""),
    "plateau_min_tail": (int, 1, False, None, ""),
    "max_rss_mb": (float, 0, False, None, ""),
    "resource_guard": (float, 0, False, 1.0, "it is a share of the limit: 1 stops a worker at the limit itself"),
}


def limit_problem(key: str, value) -> str | None:
    """Why `value` cannot be the plan's `key` (LIMITS), e.g. "must be an integer >= 1, not 'ten'"; None if it can."""
    kind, low, open_, high, why_high = LIMITS[key]
    want = f"{'an integer' if kind is int else 'a number'} {'>' if open_ else '>='} {low}"
    ok_type = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (isinstance(value, float) and not math.isfinite(value)):
        return f"must be {want}, not {value!r}"
    if value < low or (open_ and value == low):
        return f"must be {want}, not {value!r}"
    if high is not None and value > high:
        shown = f"{int(high):,}" if float(high).is_integer() else f"{high:g}"
        return f"must be at most {shown} ({why_high}), not {value!r}"
    return None
