"""What stops a transformers run before a worker starts: torch or transformers missing from
the Python the workers run with, a model that is not a Qwen3-ASR folder in transformers'
layout (or not the kind the scenario loads), no audio."""

from __future__ import annotations

import os

from orchestrator.engines.transformers import runtime
from orchestrator.engines.transformers.model_folder import ModelFolderError, is_aligner, read_config


def problems_for(plan) -> list[str]:
    out = runtime.problems()
    if not plan.models:
        out.append("no model given: pass --model FOLDER (e.g. models/tiny-transformers/tiny-asr-a)")
    for m in plan.models:
        try:
            config = read_config(m)
        except ModelFolderError as exc:
            out.append(str(exc) if os.path.exists(m) else f"model folder not found: {m}")
            continue
        if plan.scenario == "align" and not is_aligner(config):
            out.append(f"--scenario align needs the forced aligner; {m} is an ASR model")
        if plan.scenario != "align" and is_aligner(config):
            out.append(f"{m} is the forced aligner: it runs with --scenario align")
    if not plan.audio:
        out.append("no audio given: pass --audio FILE.wav")
    return out
