"""What stops an openvino run before a worker starts: openvino-genai missing from the Python
the workers run with, a model that is not an OpenVINO Qwen3-ASR export, the align scenario
(ASRPipeline does not align), no audio."""

from __future__ import annotations

from orchestrator.engines.openvino import runtime
from orchestrator.engines.openvino.model_folder import ModelFolderError, read_config


def problems_for(plan) -> list[str]:
    out = runtime.problems()
    if plan.scenario == "align":
        out.append("--scenario align: the openvino engine has no forced aligner (optimum-intel exports none)")
    if not plan.models:
        out.append("no model given: pass --model FOLDER (e.g. models/tiny-openvino/tiny-asr-a)")
    for m in plan.models:
        try:
            read_config(m)
        except ModelFolderError as exc:
            out.append(str(exc))
    if not plan.audio:
        out.append("no audio given: pass --audio FILE.wav")
    return out
