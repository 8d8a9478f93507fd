"""`orch make-test-models`: random-weight Qwen3-ASR and Qwen3-ForcedAligner models for a
runtime (an engine whose registry entry names a maker), from the same seeded weights:
chatllm.cpp's format by default, transformers' folders with `--runtime transformers`."""

from __future__ import annotations

import os

import click

from orchestrator.engines import registry as engine_registry
from orchestrator.engines.chatllm.options import chatllm_dir_option
from orchestrator.engines.chatllm.testmodels import ALL_SPECS, DEFAULT_OUT, FULL_OUT, MakeError
from orchestrator.engines.crispasr.options import SRC_ENV as CRISPASR_SRC_ENV
from orchestrator.engines.transformers.testmodels import DEFAULT_OUT as TF_OUT
from orchestrator.engines.transformers.testmodels import FULL_OUT as TF_FULL_OUT

RUNTIMES = tuple(name for name, spec in engine_registry.REGISTRY.items() if spec.test_models)


@click.command("make-test-models")
@click.option(
    "--runtime",
    type=click.Choice(RUNTIMES),
    default="chatllm",
    show_default=True,
    help=f"The engine whose format to write (transformers: a folder per model, under {TF_OUT}/ by default; "
    "crispasr: GGUF files, under models/tiny-crispasr/).",
)
@chatllm_dir_option("chatllm.cpp checkout (its convert.py does the conversion).")
@click.option(
    "--shape",
    type=click.Choice(["tiny", "full"]),
    default=None,
    help="tiny: a few MB each (default). full: the published models' every dimension "
    "(shape-qwen3-asr-0.6b, shape-qwen3-asr-1.7b, shape-qwen3-forced-aligner-0.6b; "
    "GBs of memory and disk, a minute or two each).",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where the models go (never committed: the default folders are ignored by git). "
    f"[default: {DEFAULT_OUT}, or {FULL_OUT} for --shape full; transformers: {TF_OUT}, {TF_FULL_OUT}]",
)
@click.option(
    "--quant",
    type=click.Choice(["f32", "f16", "bf16", "q8_0", "q4_0"]),
    default=None,
    help="[default: q8_0; q4_0 for --shape full, as the real files; transformers: f32 (or f16, bf16); "
    "crispasr: f16 (or f32; its wheel has no quantizer for q8_0/q4_0)]",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(sorted(ALL_SPECS)),
    help="Make only these (repeatable); default the whole family.",
)
@click.option("--keep-hf", is_flag=True, help="Keep the HF-style folders (under OUT/hf/).")
@click.option("--force", is_flag=True, help="Remake models that already exist.")
@click.option(
    "--crispasr-src",
    envvar=CRISPASR_SRC_ENV,
    default=None,
    type=click.Path(file_okay=False),
    help=f"--runtime crispasr: a CrispASR checkout (its models/convert-qwen3-asr-to-gguf.py converts) [env {CRISPASR_SRC_ENV}].",
)
def make_test_models(runtime, chatllm_dir, shape, out_dir, quant, only, keep_hf, force, crispasr_src):
    """Make random-weight Qwen3-ASR and Qwen3-ForcedAligner models in chatllm.cpp's format (or
    transformers' folders: --runtime transformers), for integration runs: tiny ones (A, B several times A, an aligner), or with --shape full the
    published models' every shape. Their output text is garbage. Conversions run one at a
    time; what each needs is said first, and too little memory or disk refuses (exit 2)."""
    make = engine_registry.get(runtime).make_test_models()
    assert make is not None  # RUNTIMES has only engines with a maker
    sources = {}
    if runtime == "crispasr":
        sources["crispasr_src"] = crispasr_src
    elif crispasr_src and os.environ.get(CRISPASR_SRC_ENV) != crispasr_src:
        raise MakeError(f"--crispasr-src is for --runtime crispasr, not {runtime}")
    make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir=chatllm_dir, **sources)
