"""What a transformers model folder says about itself, from its config.json (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

ARCHITECTURES = ("Qwen3ASRForConditionalGeneration", "Qwen3ASRForTokenClassification")


class ModelFolderError(Exception):
    pass


def read_config(folder: str | Path) -> dict:
    """config.json of a Qwen3-ASR folder in transformers' layout; ModelFolderError naming the
    folder when it is none."""
    path = Path(folder) / "config.json"
    if not Path(folder).is_dir():
        raise ModelFolderError(f"the transformers engine takes a model folder, not a file: {folder}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ModelFolderError(f"no config.json in {folder}: not a transformers model folder") from None
    except ValueError:
        raise ModelFolderError(f"{path} is not JSON") from None
    if not isinstance(config, dict) or not set(config.get("architectures") or []) & set(ARCHITECTURES):
        raise ModelFolderError(
            f"{folder} is not Qwen3-ASR in transformers' layout (architectures {config.get('architectures')!r}); "
            "orch's own folders convert with orchestrator.engines.transformers.convert"
        )
    return config


def is_aligner(config: dict) -> bool:
    return "Qwen3ASRForTokenClassification" in (config.get("architectures") or [])


def random_model_kind(config: dict) -> str | None:
    """ "test model, random weights[, full shape]" for a folder orch made; None otherwise (as
    orchestrator.engines.chatllm.model_file.random_model_kind says it of a chatllm.cpp file)."""
    mark = config.get("orch_tiny_model")
    if mark is None:
        return None
    full = isinstance(mark, dict) and (mark.get("shape") == "full" or mark.get("mimics"))
    return "test model, random weights, full shape" if full else "test model, random weights"
