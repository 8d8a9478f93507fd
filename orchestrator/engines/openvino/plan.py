"""The openvino engine's part of building a plan: the language guessed when not given
(ASRPipeline forces it by its English name, as chatllm.cpp's prompt does), a test model's
output bounded, and the runtime's versions recorded, with notes on what was decided."""

from __future__ import annotations

import os
from typing import Any

from orchestrator.engines.openvino import runtime
from orchestrator.engines.openvino.model_folder import ModelFolderError, precision, random_model_kind, read_config
from orchestrator.engines.openvino.options import OpenVINOOptions
from orchestrator.engines.planning import guess_language, typed_options

# a random-weight model rarely emits its end token (workers/engines/openvino.py has the same bound)
TEST_MODEL_MAX_NEW_TOKENS = 32


def options_for(plan, given: dict[str, Any], notes: list[str]) -> OpenVINOOptions:
    values = dict(given)
    values.update(runtime=runtime.describe())
    if not plan.language:
        plan.language, why = guess_language(plan)
        notes.append(f"--language not given: {plan.language} ({why})")
    kinds = random_models(plan.models)
    for model, kind in kinds:
        stored = precision(model)
        notes.append(
            f"{os.path.basename(model.rstrip('/'))}: {kind}{f', {stored}' if stored else ''} "
            "(its transcripts and CER say nothing of the real model)"
        )
    if values.get("max_new_tokens") is None and kinds:
        # unbounded, every request would run to the folder's limit
        values["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        notes.append(f"test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}")
    options = typed_options(plan, OpenVINOOptions, {k: v for k, v in values.items() if v is not None})
    assert isinstance(options, OpenVINOOptions)
    return options


def random_models(models) -> list[tuple[str, str]]:
    """(folder, "test model, random weights[, full shape]") for each one orch made."""
    out = []
    for m in models:
        try:
            kind = random_model_kind(read_config(m))
        except ModelFolderError:
            continue  # preflight names it
        if kind:
            out.append((m, kind))
    return out
