"""chatllm.cpp's part of building a plan: its paths resolved, the checkout's commit, the
language guessed, a test model's output bounded, with notes on what was decided."""

from __future__ import annotations

import os
from typing import Any

from orchestrator.engines import decoding
from orchestrator.engines.chatllm.model_file import (
    TEST_MODEL_MAX_NEW_TOKENS,
    ModelFileError,
    is_test_model,
    random_model_kind,
    read_meta,
)
from orchestrator.engines.chatllm.options import ChatLLMOptions
from orchestrator.engines.chatllm.paths import checkout_commit
from orchestrator.engines.planning import guess_language, typed_options


def options_for(plan, given: dict[str, Any], notes: list[str]) -> ChatLLMOptions:
    from orchestrator.engines.chatllm.paths import resolve  # only the chatllm engine needs it

    values = dict(given)
    paths = resolve(values.pop("chatllm_dir", None), values.pop("main", None), values.pop("lib", None))
    values.update(
        chatllm_dir=paths.root,
        main=paths.main,
        lib=paths.lib,
        commit=checkout_commit(paths.root),
        aligner=plan.scenario == "align",
    )
    if plan.scenario != "align":
        # Qwen3-ASR needs a language, else it may answer `language None` and no text
        if not plan.language:
            plan.language, why = guess_language(plan)
            notes.append(f"--language not given: {plan.language} ({why})")
        values["language"] = plan.language
    for model, kind in random_models(plan.models):
        notes.append(f"{os.path.basename(model)}: {kind} (its transcripts and CER say nothing of the real model)")
    if values.get("max_new_tokens") is None and any_test_model(plan.models):
        # random weights rarely emit the end token: unbounded, every request runs to the context limit
        values["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        notes.append(f"test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}")
    sampling_arg = decoding.overridden(values.get("engine_args"))
    if sampling_arg:
        notes.append(
            f"--engine-arg {sampling_arg} comes after what --decoding {plan.decoding} gives chatllm.cpp, and wins; "
            f"the run is still judged as {plan.decoding} (transcript drift "
            f"{'checked' if plan.decoding == 'greedy' else 'not checked'})"
        )
    options = typed_options(plan, ChatLLMOptions, {k: v for k, v in values.items() if v is not None})
    assert isinstance(options, ChatLLMOptions)
    return options


def random_models(models) -> list[tuple[str, str]]:
    """(model, "test model, random weights[, full shape]") for each one orch made."""
    out = []
    for m in models:
        try:
            kind = random_model_kind(read_meta(m))
        except (ModelFileError, ValueError, OSError):
            continue  # preflight names it
        if kind:
            out.append((m, kind))
    return out


def any_test_model(models) -> bool:
    for m in models:
        try:
            if is_test_model(read_meta(m)):
                return True
        except (ModelFileError, ValueError, OSError):
            pass  # preflight names it
    return False
