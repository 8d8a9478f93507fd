"""The crispasr engine's part of building a plan: the language guessed when not given (it is
forced as Qwen3-ASR's `language X<asr_text>` prefill, as chatllm.cpp's prompt does), a test
model's output bounded, and the wheel's version recorded, with notes on what was decided."""

from __future__ import annotations

import os
from typing import Any

from orchestrator.engines.crispasr import gguf_header, runtime
from orchestrator.engines.crispasr.options import CrispASROptions
from orchestrator.engines.planning import guess_language, typed_options

# a random-weight model rarely emits its end token (chatllm.cpp's and transformers' test models get the same)
TEST_MODEL_MAX_NEW_TOKENS = 32


def options_for(plan, given: dict[str, Any], notes: list[str]) -> CrispASROptions:
    values = dict(given)
    values["runtime"] = runtime.describe()
    if not plan.language:
        plan.language, why = guess_language(plan)
        notes.append(f"--language not given: {plan.language} ({why})")
    kinds = random_models(plan.models)
    for model, kind in kinds:
        notes.append(f"{os.path.basename(model)}: {kind} (its transcripts and CER say nothing of the real model)")
    if values.get("max_new_tokens") is None and kinds:
        # unbounded, every request would run to the runtime's 512 tokens
        values["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        notes.append(f"test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}")
    options = typed_options(plan, CrispASROptions, {k: v for k, v in values.items() if v is not None})
    assert isinstance(options, CrispASROptions)
    return options


def random_models(models) -> list[tuple[str, str]]:
    """(file, "test model, random weights[, full shape]") for each one orch's maker wrote."""
    out = []
    for m in models:
        try:
            kind = gguf_header.random_model_kind(gguf_header.read_keys(m))
        except gguf_header.GGUFError:
            continue  # preflight names it
        if kind:
            out.append((m, kind))
    return out
