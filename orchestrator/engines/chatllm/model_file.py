"""What a chatllm.cpp model file says about itself, read from its header without loading it:
the `ggmm` magic and the JSON metadata convert.py embeds (config.json and friends)."""

from __future__ import annotations

import json
import struct

MAGIC = b"ggmm"
LEGACY_MAGIC = b"ggml"
TEST_MODEL_MAX_NEW_TOKENS = 32  # a random-weight model rarely emits its end token


class ModelFileError(Exception):
    pass


def read_meta(path: str) -> dict:
    """The embedded metadata; ModelFileError naming the file when it is not a chatllm.cpp model."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
            if head[:4] == LEGACY_MAGIC:  # older files: no metadata
                return {}
            if len(head) < 20 or head[:4] != MAGIC:
                raise ModelFileError(f"not a chatllm.cpp model file (bad magic {head[:4]!r}): {path}")
            _version, meta_end, _, _ = struct.unpack("<4i", head[4:20])
            if not 20 <= meta_end <= 64 * 2**20:
                raise ModelFileError(f"corrupt chatllm.cpp model header (metadata size {meta_end}): {path}")
            raw = f.read(meta_end - 20)
    except OSError as exc:
        raise ModelFileError(f"cannot read model file {path}: {exc.strerror}") from None
    if len(raw) < meta_end - 20:
        raise ModelFileError(f"truncated chatllm.cpp model file: {path}")
    try:
        return json.loads(raw.rstrip(b"\0").decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"corrupt chatllm.cpp model metadata: {path}") from None


def is_test_model(meta: dict) -> bool:
    """Made by `orch make-test-models` (random weights), tiny or full shape."""
    return "orch_tiny_model" in (meta.get("config.json") or {})


def random_model_kind(meta: dict) -> str | None:
    """How to name a model `orch make-test-models` made: "test model, random weights", or
    "test model, random weights, full shape" for one with a published model's every
    dimension (`--shape full`); None for any other model."""
    mark = (meta.get("config.json") or {}).get("orch_tiny_model")
    if mark is None:
        return None
    full = isinstance(mark, dict) and (mark.get("shape") == "full" or mark.get("mimics"))
    return "test model, random weights, full shape" if full else "test model, random weights"
