"""What llama.cpp's two Qwen3-ASR files say about themselves, from their GGUF headers (the
reader is the crispasr engine's: no gguf package, stops once the keys are found):

- the text model: `general.architecture` `qwen3vl` (convert_hf_to_gguf.py writes Qwen3-ASR's
  decoder as Qwen3-VL's text model with no deepstack layers);
- the audio encoder (`--mmproj`): architecture `clip` with `clip.audio.projector_type` `qwen3a`.

orch's maker marks both (`orch.test_model`, `orch.name`: converter_runner.py)."""

from __future__ import annotations

import os
from typing import Any

from orchestrator.engines.crispasr.gguf_header import ARCH_KEY, NAME_KEY, TEST_MODEL_KEY, GGUFError, read_keys

TEXT_ARCH = "qwen3vl"
MMPROJ_ARCH = "clip"
AUDIO_PROJECTOR_KEY = "clip.audio.projector_type"
AUDIO_PROJECTOR = "qwen3a"
KEYS = (ARCH_KEY, TEST_MODEL_KEY, NAME_KEY, AUDIO_PROJECTOR_KEY)


def keys_of(path: str) -> dict[str, Any]:
    """The header keys orch reads; GGUFError naming the file when they cannot be read."""
    if os.path.isdir(path):
        raise GGUFError(f"the llamacpp engine takes GGUF files, not a folder: {path}")
    return read_keys(path, KEYS)


def text_problem(path: str) -> str | None:
    """Why `path` is not a Qwen3-ASR text GGUF llama.cpp loads, or None."""
    try:
        keys = keys_of(path)
    except GGUFError as exc:
        return str(exc)
    if keys.get(ARCH_KEY) == MMPROJ_ARCH:
        return f"{path} is an audio encoder (mmproj) file: pass it as --mmproj, and the text model as --model"
    if keys.get(ARCH_KEY) != TEXT_ARCH:
        return (
            f"{path} is a GGUF file of architecture {keys.get(ARCH_KEY)!r}, not {TEXT_ARCH!r} "
            "(Qwen3-ASR's text model as llama.cpp's convert_hf_to_gguf.py writes it)"
        )
    return None


def mmproj_problem(path: str) -> str | None:
    """Why `path` is not a Qwen3-ASR audio encoder (mmproj) GGUF, or None."""
    try:
        keys = keys_of(path)
    except GGUFError as exc:
        return str(exc)
    if keys.get(ARCH_KEY) != MMPROJ_ARCH or keys.get(AUDIO_PROJECTOR_KEY) != AUDIO_PROJECTOR:
        return (
            f"--mmproj {path} is not a Qwen3-ASR audio encoder (architecture {keys.get(ARCH_KEY)!r}, "
            f"audio projector {keys.get(AUDIO_PROJECTOR_KEY)!r}; want {MMPROJ_ARCH!r} / {AUDIO_PROJECTOR!r}: "
            "convert_hf_to_gguf.py --mmproj writes it)"
        )
    return None


def random_model_kind(path: str) -> str | None:
    """ "test model, random weights[, full shape]" for a file orch's maker wrote; None otherwise."""
    try:
        kind = keys_of(path).get(TEST_MODEL_KEY)
    except GGUFError:
        return None
    return kind if isinstance(kind, str) and kind else None
