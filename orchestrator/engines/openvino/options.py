"""The openvino engine's options: declared here once, with their defaults (fields.py). The
plan bounds a test model's output and records the runtime's versions (plan.py), so the
record says it; the language goes to the worker with the plan."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engines import fields
from orchestrator.engines.fields import option

# the workers run with orch's own Python: openvino-genai must be installed in it
INSTALL = "pip install -e '.[openvino]'"


@dataclass(frozen=True)
class OpenVINOOptions:
    """Qwen3-ASR through OpenVINO GenAI's ASRPipeline (CPU plugin), in the worker."""

    threads: int | None = option(
        "integer",
        low=1,
        flag="--threads",
        help="openvino: the CPU plugin's INFERENCE_NUM_THREADS (OMP/OpenBLAS pinned to it).",
    )
    max_new_tokens: int | None = option(
        "integer",
        low=1,
        flag="--max-new-tokens",
        help="openvino: bound on the output length (default: 32 for a test model, else the folder's generation_config).",
    )
    # "openvino 2026.4.1, openvino-genai 2026.4.1.0, ...": what ran, for the record (the plan reads it)
    runtime: str | None = option("text", settable=False)
    # glibc malloc_trim(0) after every unload: tells a leak from allocator retention
    trim_after_unload: bool | None = option(
        "flag",
        flag="--trim-after-unload",
        click={"is_flag": True},
        help="The worker calls glibc malloc_trim(0) after every unload (leak vs allocator retention).",
    )

    engine = "openvino"

    def problems(self) -> list[str]:
        return fields.problems(self)

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)
