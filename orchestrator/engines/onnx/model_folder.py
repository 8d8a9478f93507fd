"""What an onnx model folder holds, from its file names and config.json (nothing imported).

A folder is what sherpa-onnx's `OfflineRecognizer.from_qwen3_asr` takes, in one place: the
exporter's three graphs (`conv_frontend.onnx`, `encoder[.int8].onnx`, `decoder[.int8].onnx`,
fp32 ones with their external `.data` files) and the tokenizer files (vocab.json, merges.txt,
tokenizer_config.json) beside them or in a `tokenizer/` sub-folder. orch's maker also copies
the source's config.json, whose `orch_tiny_model` mark says the weights are random."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from orchestrator.engines.onnx.options import PRECISIONS

TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json")
# the file names for each precision (the exporter's; workers/engines/onnx.py uses the same)
SUFFIX = {"fp32": "", "int8": ".int8"}


class ModelFolderError(Exception):
    pass


@dataclass(frozen=True)
class OnnxFiles:
    conv_frontend: Path
    encoder: Path
    decoder: Path
    tokenizer: Path  # the folder with the tokenizer files


def tokenizer_dir(folder: Path) -> Path | None:
    for candidate in (folder, folder / "tokenizer"):
        if all((candidate / f).is_file() for f in TOKENIZER_FILES):
            return candidate
    return None


def files_for(folder: str | Path, precision: str) -> OnnxFiles:
    """The files one precision runs with; ModelFolderError naming what is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"the onnx engine takes a model folder, not a file: {folder}")
    suffix = SUFFIX[precision]
    graphs = [folder / "conv_frontend.onnx", folder / f"encoder{suffix}.onnx", folder / f"decoder{suffix}.onnx"]
    missing = [p.name for p in graphs if not p.is_file()]
    if missing:
        have = ", ".join(available_precisions(folder)) or "none"
        raise ModelFolderError(
            f"{folder} has no {', '.join(missing)}: not a Qwen3-ASR ONNX export at {precision} (precisions there: {have})"
        )
    tokenizer = tokenizer_dir(folder)
    if tokenizer is None:
        raise ModelFolderError(f"{folder} has no tokenizer files ({', '.join(TOKENIZER_FILES)}) beside the graphs")
    return OnnxFiles(graphs[0], graphs[1], graphs[2], tokenizer)


def available_precisions(folder: str | Path) -> list[str]:
    folder = Path(folder)
    return [
        p
        for p in PRECISIONS
        if (folder / f"encoder{SUFFIX[p]}.onnx").is_file() and (folder / f"decoder{SUFFIX[p]}.onnx").is_file()
    ]


def random_model_kind(folder: str | Path) -> str | None:
    """ "test model, random weights[, full shape]" for a folder orch made (its config.json's
    mark, as the transformers engine reads it); None otherwise."""
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    mark = config.get("orch_tiny_model") if isinstance(config, dict) else None
    if mark is None:
        return None
    full = isinstance(mark, dict) and (mark.get("shape") == "full" or mark.get("mimics"))
    return "test model, random weights, full shape" if full else "test model, random weights"
