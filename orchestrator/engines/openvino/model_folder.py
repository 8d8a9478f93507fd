"""What an exported OpenVINO folder says about itself, from its files and config.json (no openvino)."""

from __future__ import annotations

import json
from pathlib import Path

# what ASRPipeline loads (optimum-intel writes them; the HF files are beside them)
IR_FILES = (
    "openvino_encoder_model.xml",
    "openvino_decoder_model.xml",
    "openvino_tokenizer.xml",
    "openvino_detokenizer.xml",
)


class ModelFolderError(Exception):
    pass


def read_config(folder: str | Path) -> dict:
    """config.json of an OpenVINO Qwen3-ASR export; ModelFolderError naming the folder when it is none."""
    folder = Path(folder)
    if not folder.exists():
        raise ModelFolderError(f"model folder not found: {folder}")
    if not folder.is_dir():
        raise ModelFolderError(f"the openvino engine takes an exported model folder, not a file: {folder}")
    missing = [f for f in IR_FILES if not (folder / f).is_file()]
    if missing:
        raise ModelFolderError(
            f"{folder} is not an OpenVINO ASR export (no {', '.join(missing)}): orch make-test-models --runtime openvino"
        )
    path = folder / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise ModelFolderError(f"no config.json in {folder}: not an optimum-intel export") from None
    except ValueError:
        raise ModelFolderError(f"{path} is not JSON") from None
    if not isinstance(config, dict) or config.get("model_type") != "qwen3_asr":
        got = config.get("model_type") if isinstance(config, dict) else None
        raise ModelFolderError(f"{folder} is not Qwen3-ASR (model_type {got!r})")
    return config


def precision(folder: str | Path) -> str | None:
    """The --weight-format it was exported at, from orch's manifest beside it (None: not orch's)."""
    folder = Path(folder)
    try:
        entries = json.loads((folder.parent / "openvino-models.json").read_text(encoding="utf-8"))["models"]
        return entries[folder.name]["precision"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def random_model_kind(config: dict) -> str | None:
    """ "test model, random weights[, full shape]" for a folder orch made; None otherwise."""
    mark = config.get("orch_tiny_model")
    if mark is None:
        return None
    full = isinstance(mark, dict) and (mark.get("shape") == "full" or mark.get("mimics"))
    return "test model, random weights, full shape" if full else "test model, random weights"
