"""The llamacpp engine's part of building a plan: the programs found (llama-server,
llama-mtmd-cli) and the build they are, the audio encoder paired with the model (the test-model
manifest's `mmproj`, or the one file `*mmproj*.gguf` beside it), the language guessed when not
given (forced as Qwen3-ASR's `language X<asr_text>` prefill), a test model's output bounded;
with notes on what was decided."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from orchestrator.engines.llamacpp import gguf_files, programs
from orchestrator.engines.llamacpp.options import LlamaCppOptions
from orchestrator.engines.planning import guess_language, typed_options
from orchestrator.engines.weights import manifest_entry

# a random-weight model rarely emits its end token (the other engines' test models get the same)
TEST_MODEL_MAX_NEW_TOKENS = 32


def options_for(plan, given: dict[str, Any], notes: list[str]) -> LlamaCppOptions:
    values = {k: v for k, v in given.items() if v is not None}
    server = programs.find(programs.SERVER, values.get("bin_dir"))
    cli = programs.find(programs.CLI, values.get("bin_dir"))
    values["server"] = str(server) if server else None
    values["cli"] = str(cli) if cli else None
    program = server or cli
    values["runtime"] = programs.build_of(program).describe() if program else None
    if not values.get("mmproj") and plan.models:
        mmproj = paired_mmproj(plan.models[0])
        if mmproj:
            values["mmproj"] = mmproj
            notes.append(f"--mmproj not given: {mmproj} (paired with {os.path.basename(plan.models[0])})")
    if not plan.language:
        plan.language, why = guess_language(plan)
        notes.append(f"--language not given: {plan.language} ({why})")
    kinds = [(m, gguf_files.random_model_kind(m)) for m in plan.models]
    for model, kind in kinds:
        if kind:
            notes.append(f"{os.path.basename(model)}: {kind} (its transcripts and CER say nothing of the real model)")
    if values.get("max_new_tokens") is None and any(kind for _, kind in kinds):
        values["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        notes.append(f"test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}")
    options = typed_options(plan, LlamaCppOptions, {k: v for k, v in values.items() if v is not None})
    assert isinstance(options, LlamaCppOptions)
    return options


def paired_mmproj(model: str) -> str | None:
    """The audio encoder for `model`: its test-model manifest entry's `mmproj`, else the only
    `*mmproj*.gguf` in its folder; None when neither says."""
    entry = manifest_entry(model)
    folder = Path(model).parent
    if entry and entry.get("mmproj") and (folder / str(entry["mmproj"])).is_file():
        return str(folder / str(entry["mmproj"]))
    try:
        found = sorted(p for p in folder.glob("*mmproj*.gguf") if p.is_file())
    except OSError:
        return None
    return str(found[0]) if len(found) == 1 else None
