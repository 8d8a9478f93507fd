"""The onnx engine's part of building a plan: the language guessed when not given (sherpa-onnx
forces it as the official processor does), a test model's output bounded, and the runtime's
version recorded, with notes on what was decided."""

from __future__ import annotations

import os
from typing import Any

from orchestrator.engines.onnx import runtime
from orchestrator.engines.onnx.model_folder import random_model_kind
from orchestrator.engines.onnx.options import OnnxOptions
from orchestrator.engines.planning import guess_language, typed_options

# a random-weight model rarely emits its end token (workers/engines/onnx.py has the same bound)
TEST_MODEL_MAX_NEW_TOKENS = 32


def options_for(plan, given: dict[str, Any], notes: list[str]) -> OnnxOptions:
    values = dict(given)
    values.update(runtime=runtime.describe())
    if not plan.language:
        plan.language, why = guess_language(plan)
        notes.append(f"--language not given: {plan.language} ({why})")
    kinds = [(m, kind) for m in plan.models if (kind := random_model_kind(m))]
    for model, kind in kinds:
        notes.append(
            f"{os.path.basename(model.rstrip('/'))}: {kind} (its transcripts and CER say nothing of the real model)"
        )
    if values.get("max_new_tokens") is None and kinds:
        values["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        notes.append(f"test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}")
    options = typed_options(plan, OnnxOptions, {k: v for k, v in values.items() if v is not None})
    assert isinstance(options, OnnxOptions)
    return options
