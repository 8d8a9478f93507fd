"""The calibration engine's options: declared here once, with their defaults (fields.py)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engines import fields
from orchestrator.engines.fields import option

# the calibration engine's drift: `text` another text, `char` one character changed
DRIFT_MODES = ("text", "char")

TRANSCRIPT = "calibration stream one two three four five six seven eight nine ten eleven twelve"


@dataclass(frozen=True)
class CalibrationOptions:
    """A fake engine with known timings and leaks (workers/engines/calibration.py)."""

    ttft_ms: float | None = option(
        "number", default=50.0, flag="--ttft-ms", help="calibration: time to first token (default {default})."
    )
    token_ms: float | None = option(
        "number", default=10.0, flag="--token-ms", help="calibration: delay between tokens (default {default})."
    )
    leak_mb: float | None = option(
        "number", default=0.0, flag="--leak-mb", help="calibration: native heap leaked per inference call."
    )
    leak_on_load_mb: float | None = option(
        "number", default=0.0, flag="--leak-on-load-mb", help="calibration: native heap leaked per model load."
    )
    # resources leaked per inference call (orch selftest: the resource figures measure them back)
    leak_threads: int | None = option(
        "integer",
        default=0,
        flag="--leak-threads",
        help="calibration: threads started and never joined per inference call.",
    )
    leak_fds: int | None = option(
        "integer",
        default=0,
        flag="--leak-fds",
        help="calibration: file descriptors opened and never closed per inference call.",
    )
    leak_maps: int | None = option(
        "integer",
        default=0,
        flag="--leak-maps",
        help="calibration: memory maps made and never unmapped per inference call.",
    )
    # None: every model's load leaks
    leak_models: list[str] | None = option(
        "texts", flag="--leak-models", help="calibration: comma-separated model names the load leak applies to."
    )
    # attribution decoys (orch selftest): never-touched and freed-again allocations per call
    decoy_mb: float | None = option("number", default=0.0)
    churn_mb: float | None = option("number", default=0.0)
    model_mb: float | None = option(
        "number", default=16.0, flag="--model-mb", help="calibration: weights held while loaded (default {default})."
    )
    load_ms: float | None = option(
        "number", default=0.0, flag="--load-ms", help="calibration: time a load takes (default {default})."
    )
    crash_at: int | None = option(
        "integer", low=1, flag="--crash-at", help="calibration: SIGSEGV at this iteration (>= 1)."
    )
    hang_at: int | None = option("integer", low=1, flag="--hang-at", help="calibration: hang at this iteration (>= 1).")
    transcript: str | None = option("text", default=TRANSCRIPT)
    # drift (orch selftest): the text changes from this iteration on, the whole text or one character
    drift_at: int | None = option(
        "integer",
        low=1,
        flag="--drift-at",
        help="calibration: the text changes from this iteration on (>= 1; greedy decoding finds it as drift).",
    )
    drift_mode: str | None = option(
        "text",
        default="text",
        flag="--drift-mode",
        help="calibration: what --drift-at changes: text (the text, default) or char (one character of it).",
    )
    cache_speedup: float | None = option(
        "number",
        flag="--cache-speedup",
        help="calibration: a repeated audio's TTFT and token times are scaled by this (0.5: twice as fast), as a caching runtime.",
    )
    # orch stream's cost model (docs/streaming.md): the fall-behind point known in advance
    encode_ms_per_s: float | None = option(
        "number",
        default=0.0,
        flag="--encode-ms-per-s",
        help="calibration: time before the first token per second of the request's audio (orch stream's cost "
        "model; default {default}).",
    )
    audio_tokens_per_s: float | None = option(
        "number",
        default=0.0,
        flag="--audio-tokens-per-s",
        help="calibration: answer with this many tokens per second of the request's audio, the transcript's "
        "cycled (orch stream; 0, the default: the whole transcript).",
    )
    # glibc malloc_trim(0) after every unload: tells a leak from allocator retention
    trim_after_unload: bool | None = option(
        "flag",
        flag="--trim-after-unload",
        click={"is_flag": True},
        help="The worker calls glibc malloc_trim(0) after every unload (leak vs allocator retention).",
    )

    engine = "calibration"

    def problems(self) -> list[str]:
        out = fields.problems(self)
        if self.drift_mode is not None and self.drift_mode not in DRIFT_MODES:
            out.append(f"drift_mode must be one of {', '.join(DRIFT_MODES)}, not {self.drift_mode!r}")
        return out

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)
