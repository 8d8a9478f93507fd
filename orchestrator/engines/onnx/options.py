"""The onnx engine's options: declared here once, with their defaults (fields.py). The plan
bounds a test model's output and records the runtime's versions (plan.py)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engines import fields
from orchestrator.engines.fields import option

# the workers run with orch's own Python: sherpa-onnx (with its onnxruntime) must be in it
INSTALL = "pip install -e '.[onnx]'"
# the files the exporter writes for each (workers/engines/onnx.py reads the same names)
PRECISIONS = ("fp32", "int8")
# the KV cache length the exporter's decoder is made for (its --max-total-len default, and sherpa-onnx's)
MAX_TOTAL_LEN = 512


@dataclass(frozen=True)
class OnnxOptions:
    """Qwen3-ASR on ONNX Runtime through sherpa-onnx (CPU), in the worker."""

    threads: int | None = option(
        "integer", low=1, flag="--threads", help="onnx: onnxruntime intra-op threads (sherpa-onnx num_threads)."
    )
    max_new_tokens: int | None = option(
        "integer",
        low=1,
        flag="--max-new-tokens",
        help="onnx: bound on the output length (default: 32 for a test model, else sherpa-onnx's 128).",
    )
    precision: str | None = option(
        "text",
        default="fp32",
        choices=PRECISIONS,
        flag="--onnx-precision",
        help="onnx: which of the folder's exports runs: fp32 (encoder.onnx, decoder.onnx) or int8 "
        "(encoder.int8.onnx, decoder.int8.onnx). [default: fp32]",
    )
    max_total_len: int | None = option(
        "integer",
        low=1,
        default=MAX_TOTAL_LEN,
        flag="--max-total-len",
        help="onnx: the decoder's KV cache length, prompt + audio + output (the export's; default {default}).",
    )
    # "sherpa-onnx 2.0.1, onnxruntime 1.32.0": what ran, for the record (the plan reads it)
    runtime: str | None = option("text", settable=False)
    # glibc malloc_trim(0) after every unload: tells a leak from allocator retention
    trim_after_unload: bool | None = option(
        "flag",
        flag="--trim-after-unload",
        click={"is_flag": True},
        help="The worker calls glibc malloc_trim(0) after every unload (leak vs allocator retention).",
    )

    engine = "onnx"

    def problems(self) -> list[str]:
        return fields.problems(self)

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)
