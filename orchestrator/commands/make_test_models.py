"""`orch make-test-models` (orchestrator.engines.chatllm.testmodels): random-weight models in
chatllm.cpp's format for integration runs."""

from __future__ import annotations

import click

from orchestrator.engines.chatllm import testmodels
from orchestrator.engines.chatllm.options import chatllm_dir_option


@click.command("make-test-models")
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
    help=f"Where the .bin files go (never committed: {testmodels.DEFAULT_OUT}/ and {testmodels.FULL_OUT}/ are ignored by git). "
    f"[default: {testmodels.DEFAULT_OUT}, or {testmodels.FULL_OUT} for --shape full]",
)
@click.option(
    "--quant",
    type=click.Choice(["f32", "f16", "q8_0", "q4_0"]),
    default=None,
    help="[default: q8_0; q4_0 for --shape full, as the real files]",
)
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(sorted(testmodels.ALL_SPECS)),
    help="Make only these (repeatable); default the whole family.",
)
@click.option("--keep-hf", is_flag=True, help="Keep the HF-style folders (under OUT/hf/).")
@click.option("--force", is_flag=True, help="Remake models that already exist.")
def make_test_models(chatllm_dir, shape, out_dir, quant, only, keep_hf, force):
    """Make random-weight Qwen3-ASR and Qwen3-ForcedAligner models in chatllm.cpp's format, for
    integration runs: tiny ones (A, B several times A, an aligner), or with --shape full the
    published models' every shape. Their output text is garbage. Conversions run one at a
    time; what each needs is said first, and too little memory or disk refuses (exit 2)."""
    testmodels.make_models(chatllm_dir, shape, out_dir, quant, only, keep_hf, force)
