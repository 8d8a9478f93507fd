"""`orch make-test-models`: random-weight Qwen3-ASR and Qwen3-ForcedAligner models for a
runtime (an engine whose registry entry names a maker), from the same seeded weights:
chatllm.cpp's format by default, transformers' folders with `--runtime transformers`."""

from __future__ import annotations

import inspect

import click

from orchestrator.engines import registry as engine_registry
from orchestrator.engines.chatllm.options import chatllm_dir_option
from orchestrator.engines.chatllm.testmodels import DEFAULT_OUT, FULL_OUT
from orchestrator.engines.crispasr.options import SRC_ENV as CRISPASR_SRC_ENV
from orchestrator.engines.crispasr.testmodels import DEFAULT_OUT as CRISP_OUT
from orchestrator.engines.crispasr.testmodels import FULL_OUT as CRISP_FULL_OUT
from orchestrator.engines.onnx import export as onnx_export
from orchestrator.engines.onnx.testmodels import DEFAULT_OUT as ONNX_OUT
from orchestrator.engines.onnx.testmodels import FULL_OUT as ONNX_FULL_OUT
from orchestrator.engines.openvino.testmodels import DEFAULT_OUT as OV_OUT
from orchestrator.engines.openvino.testmodels import FULL_OUT as OV_FULL_OUT
from orchestrator.engines.qwen3asr_weights import ALL_SPECS, MakeError
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
    f"[default: {DEFAULT_OUT}, or {FULL_OUT} for --shape full; transformers: {TF_OUT}, {TF_FULL_OUT}; "
    f"onnx: {ONNX_OUT}, {ONNX_FULL_OUT}; openvino: {OV_OUT}, {OV_FULL_OUT}; crispasr: {CRISP_OUT}, {CRISP_FULL_OUT}]",
)
@click.option(
    "--quant",
    type=click.Choice(["f32", "f16", "bf16", "q8_0", "q4_0", "fp32", "fp16", "int8", "int4"]),
    default=None,
    help="[default: q8_0; q4_0 for --shape full, as the real files; transformers: f32 (or f16, bf16); "
    "onnx: both fp32 and int8 (or one of them); openvino: fp32 (or fp16, int8, int4: optimum-cli's --weight-format); "
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
    "--onnx-exporter",
    envvar=onnx_export.EXPORTER_ENV,
    default=None,
    type=click.Path(file_okay=False),
    help=f"onnx: a clone of {onnx_export.EXPORTER_REPO} (its {onnx_export.EXPORTER_SCRIPT}). "
    f"[env: {onnx_export.EXPORTER_ENV}]",
)
@click.option(
    "--export-python",
    envvar=onnx_export.PYTHON_ENV,
    default=None,
    type=click.Path(dir_okay=False),
    help="onnx, openvino: the Python their exporters run in (qwen-asr 0.0.6, transformers 4.57.6; openvino: "
    f"optimum-intel too; `orch doctor` says how to make it). [env: {onnx_export.PYTHON_ENV}]",
)
@click.option(
    "--crispasr-src",
    envvar=CRISPASR_SRC_ENV,
    default=None,
    type=click.Path(file_okay=False),
    help=f"--runtime crispasr: a CrispASR checkout (its models/convert-qwen3-asr-to-gguf.py converts) [env {CRISPASR_SRC_ENV}].",
)
def make_test_models(
    runtime, chatllm_dir, shape, out_dir, quant, only, keep_hf, force, onnx_exporter, export_python, crispasr_src
):
    """Make random-weight Qwen3-ASR and Qwen3-ForcedAligner models in chatllm.cpp's format (or
    transformers' folders: --runtime transformers), for integration runs: tiny ones (A, B several times A, an aligner), or with --shape full the
    published models' every shape. Their output text is garbage. Conversions run one at a
    time; what each needs is said first, and too little memory or disk refuses (exit 2)."""
    make = engine_registry.get(runtime).make_test_models()
    assert make is not None  # RUNTIMES has only engines with a maker
    # the converters, exporters and their Pythons are those makers' alone: each gets the ones
    # its signature names; one given on the command line that it does not take is an error
    given = {"onnx_exporter": onnx_exporter, "export_python": export_python, "crispasr_src": crispasr_src}
    takes = inspect.signature(make).parameters
    ctx = click.get_current_context()
    for name in given:
        if name not in takes and ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            raise MakeError(f"--{name.replace('_', '-')} does not apply to --runtime {runtime}")
    extra = {name: value for name, value in given.items() if name in takes}
    make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir=chatllm_dir, **extra)
