"""Engine options as typed objects, one class per engine, checked when built. The worker gets
`to_worker()` (a JSON map: the one place they cross to the child), the result's `engine`
block gets `describe()`. `None` means "the engine's own default"."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import CannotStart


def _check_number(name: str, value: Any, low: float, integer: bool = False) -> str | None:
    if value is None:
        return None
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < low:
        kind = "an integer" if integer else "a number"
        return f"{name} must be {kind} >= {low:g}, not {value!r}"
    return None


# the calibration engine's drift: `text` another text, `char` one character changed
DRIFT_MODES = ("text", "char")


@dataclass(frozen=True)
class CalibrationOptions:
    """The calibration engine (workers/engines/calibration.py has the defaults)."""

    ttft_ms: float | None = None
    token_ms: float | None = None
    leak_mb: float | None = None
    leak_on_load_mb: float | None = None
    leak_models: list[str] | None = None
    # attribution decoys (orch selftest): never-touched and freed-again allocations per call
    decoy_mb: float | None = None
    churn_mb: float | None = None
    model_mb: float | None = None
    load_ms: float | None = None
    crash_at: int | None = None
    hang_at: int | None = None
    transcript: str | None = None
    # drift (orch selftest): the text changes from this iteration on, the whole text or one character
    drift_at: int | None = None
    drift_mode: str | None = None
    # glibc malloc_trim(0) after every unload: tells a leak from allocator retention
    trim_after_unload: bool | None = None

    engine = "calibration"

    def problems(self) -> list[str]:
        out = [
            _check_number(k, getattr(self, k), 0)
            for k in (
                "ttft_ms",
                "token_ms",
                "leak_mb",
                "leak_on_load_mb",
                "decoy_mb",
                "churn_mb",
                "model_mb",
                "load_ms",
            )
        ]
        out += [_check_number(k, getattr(self, k), 1, integer=True) for k in ("crash_at", "hang_at", "drift_at")]
        if self.drift_mode is not None and self.drift_mode not in DRIFT_MODES:
            out.append(f"drift_mode must be one of {', '.join(DRIFT_MODES)}, not {self.drift_mode!r}")
        return [p for p in out if p]

    def to_worker(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def describe(self) -> dict:
        return self.to_worker()


@dataclass(frozen=True)
class ChatLLMOptions:
    """chatllm.cpp: where its pieces are and what to pass it."""

    chatllm_dir: str = "./chatllm.cpp"
    main: str | None = None
    lib: str | None = None
    engine_args: list[str] = field(default_factory=list)
    commit: str | None = None
    aligner: bool = False
    language: str | None = None
    threads: int | None = None
    ctx: int | None = None
    max_new_tokens: int | None = None
    # glibc malloc_trim(0) after every unload: tells a leak from allocator retention
    trim_after_unload: bool | None = None
    # TTFT by phase (a stamping ffmpeg on PATH, the bindings' statistics); None: on
    ttft_phases: bool | None = None

    engine = "chatllm"

    def problems(self) -> list[str]:
        out = [_check_number(k, getattr(self, k), 1, integer=True) for k in ("threads", "ctx", "max_new_tokens")]
        return [p for p in out if p]

    def to_worker(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}

    def describe(self) -> dict:
        return self.to_worker()


EngineOptions = CalibrationOptions | ChatLLMOptions
BY_ENGINE: dict[str, type] = {"calibration": CalibrationOptions, "chatllm": ChatLLMOptions}


def known_keys(engine: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(BY_ENGINE[engine]))


def from_mapping(engine: str, values: dict | None) -> EngineOptions:
    """Typed options from a map (a soak config's `engine_options`, a test's dict); unknown
    keys and bad values are CannotStart, every one named."""
    values = dict(values or {})
    cls = BY_ENGINE.get(engine)
    if cls is None:
        raise CannotStart(f"unknown engine {engine!r}: choose from {', '.join(BY_ENGINE)}")
    unknown = sorted(set(values) - set(known_keys(engine)))
    if unknown:
        raise CannotStart(
            [
                f"engine_options: {k!r} is not an option of the {engine} engine "
                f"(known: {', '.join(known_keys(engine))})"
                for k in unknown
            ]
        )
    if isinstance(values.get("leak_models"), str):
        values["leak_models"] = [m for m in values["leak_models"].split(",") if m]
    if values.get("engine_args") is not None:
        values["engine_args"] = list(values["engine_args"])
    options = cls(**values)
    problems = options.problems()
    if problems:
        raise CannotStart(problems)
    return options
