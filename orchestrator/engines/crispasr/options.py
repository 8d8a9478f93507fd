"""The crispasr engine's options: declared here once, with their defaults (fields.py). The plan
sets `runtime` (the wheel's version, for the record) and bounds a test model's output (plan.py);
the language goes to the worker with the plan."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engines import fields
from orchestrator.engines.fields import option

# the workers run with orch's own Python: the wheel must be installed in it
INSTALL = "pip install -e '.[crispasr]'"
# a CrispASR checkout, whose converter makes the test models (`--crispasr-src` of make-test-models)
SRC_ENV = "CRISPASR_SRC"
# the precisions CrispASR's converter writes (f32: every tensor, by orch's patch of it); its
# quantised types need CrispASR's C++ crispasr-quantize, which the wheel does not ship
PRECISIONS = ("f16", "f32")
NO_QUANTIZER = (
    "the crispasr wheel ships no quantizer (q8_0/q4_0 GGUF files are made by CrispASR's C++ "
    "crispasr-quantize: build it from github.com/CrispStrobe/CrispASR)"
)


@dataclass(frozen=True)
class CrispASROptions:
    """Qwen3-ASR GGUF files through CrispASR's Python session (crispasr.Session), in the worker."""

    threads: int | None = option(
        "integer",
        low=1,
        flag="--threads",
        help="crispasr: ggml threads (Session n_threads; OMP_NUM_THREADS and OPENBLAS_NUM_THREADS pinned to it).",
    )
    max_new_tokens: int | None = option(
        "integer",
        low=1,
        flag="--max-new-tokens",
        help="crispasr: Session.set_max_new_tokens (default: 32 for a test model, else the runtime's 512).",
    )
    # "crispasr 0.8.45": what ran, for the record (the plan reads it)
    runtime: str | None = option("text", settable=False)
    trim_after_unload: bool | None = option(
        "flag",
        flag="--trim-after-unload",
        click={"is_flag": True},
        help="The worker calls glibc malloc_trim(0) after every unload (leak vs allocator retention).",
    )

    engine = "crispasr"

    def problems(self) -> list[str]:
        return fields.problems(self)

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)
