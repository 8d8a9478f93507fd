"""The transformers engine's options: declared here once, with their defaults (fields.py).
The plan sets aligner (scenario align) and the runtime's versions, and bounds a test model's
output (plan.py), so the record says it; the language goes to the worker with the plan."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engines import fields
from orchestrator.engines.fields import option

# the workers run with orch's own Python: torch and transformers must be installed in it
INSTALL = "pip install -e '.[transformers]'"
# as workers/engines/transformers.py takes them ("auto": the dtype the folder stores)
DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass(frozen=True)
class TransformersOptions:
    """Qwen3-ASR through Hugging Face transformers on PyTorch (CPU), in the worker."""

    threads: int | None = option(
        "integer", low=1, flag="--threads", help="transformers: torch threads (torch.set_num_threads)."
    )
    max_new_tokens: int | None = option(
        "integer",
        low=1,
        flag="--max-new-tokens",
        help="transformers: bound on the output length (default: 32 for a test model, else the folder's generation_config).",
    )
    dtype: str | None = option(
        "text",
        default="auto",
        choices=DTYPES,
        flag="--dtype",
        help="transformers: the weights' dtype in memory (auto: as the folder stores them).",
    )
    aligner: bool = option("flag", default=False, field_default=False, settable=False)
    # "torch 2.13.0+cpu, transformers 5.24.0": what ran, for the record (the plan reads it)
    runtime: str | None = option("text", settable=False)
    # glibc malloc_trim(0) after every unload: tells a leak from allocator retention
    trim_after_unload: bool | None = option(
        "flag",
        flag="--trim-after-unload",
        click={"is_flag": True},
        help="The worker calls glibc malloc_trim(0) after every unload (leak vs allocator retention).",
    )

    engine = "transformers"

    def problems(self) -> list[str]:
        return fields.problems(self)

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)
