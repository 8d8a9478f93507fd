"""What stops an onnx run before a worker starts: sherpa-onnx missing from the Python the
workers run with, a model that is not a folder of the precision's ONNX files, the align
scenario (no aligner in sherpa-onnx's Qwen3-ASR), no audio."""

from __future__ import annotations

from orchestrator.engines.onnx import runtime
from orchestrator.engines.onnx.model_folder import ModelFolderError, files_for


def problems_for(plan) -> list[str]:
    out = runtime.problems()
    if plan.scenario == "align":
        out.append("the onnx engine has no forced aligner (sherpa-onnx's Qwen3-ASR recognizer transcribes only)")
    if not plan.models:
        out.append("no model given: pass --model FOLDER (e.g. models/tiny-onnx/tiny-asr-a)")
    precision = getattr(plan.engine_options, "precision", None) or "fp32"
    for m in plan.models:
        try:
            files_for(m, precision)
        except ModelFolderError as exc:
            out.append(str(exc))
    if not plan.audio:
        out.append("no audio given: pass --audio FILE.wav")
    return out
