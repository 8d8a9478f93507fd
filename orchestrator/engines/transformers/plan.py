"""The transformers engine's part of building a plan: aligner from the scenario, the language
guessed when not given (the processor forces it, as chatllm.cpp's prompt does), a test
model's output bounded, and the runtime's versions recorded, with notes on what was decided."""

from __future__ import annotations

import os
from typing import Any

from orchestrator.engines.planning import guess_language, typed_options
from orchestrator.engines.transformers import runtime
from orchestrator.engines.transformers.model_folder import ModelFolderError, random_model_kind, read_config
from orchestrator.engines.transformers.options import TransformersOptions

# a random-weight model rarely emits its end token (workers/engines/transformers.py has the same bound)
TEST_MODEL_MAX_NEW_TOKENS = 32


def options_for(plan, given: dict[str, Any], notes: list[str]) -> TransformersOptions:
    values = dict(given)
    values.update(aligner=plan.scenario == "align", runtime=runtime.describe())
    if not plan.language:
        plan.language, why = guess_language(plan)
        notes.append(f"--language not given: {plan.language} ({why})")
    kinds = random_models(plan.models)
    for model, kind in kinds:
        notes.append(
            f"{os.path.basename(model.rstrip('/'))}: {kind} (its transcripts and CER say nothing of the real model)"
        )
    if values.get("max_new_tokens") is None and kinds and plan.scenario != "align":
        # unbounded, every request would run to the folder's limit
        values["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        notes.append(f"test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}")
    options = typed_options(plan, TransformersOptions, {k: v for k, v in values.items() if v is not None})
    assert isinstance(options, TransformersOptions)
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
