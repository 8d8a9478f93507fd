"""What a GGUF file says about itself, from its key-value header (no gguf package, no numpy):
its architecture (`qwen3asr` for a Qwen3-ASR file CrispASR loads) and the marks orch's maker
adds to a test model (`orch.test_model`). Reading stops once the keys asked for are found,
so the 150k-entry token list that follows them is not read.

Format (ggml's docs/gguf.md): "GGUF", version u32, tensor count u64, key-value count u64,
then per key: name (u64 length + bytes), value type u32, value."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

ARCH_KEY = "general.architecture"
QWEN3_ASR_ARCH = "qwen3asr"  # what CrispASR's models/convert-qwen3-asr-to-gguf.py writes
# keys orch's maker adds (converter_runner.py): what the file is, and which test model
TEST_MODEL_KEY = "orch.test_model"
NAME_KEY = "orch.name"

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_MAX_STRING = 1 << 24  # a longer key or string is a corrupt file, not a reason to read GBs


class GGUFError(Exception):
    pass


def read_keys(path: str | Path, wanted: tuple[str, ...] = (ARCH_KEY, TEST_MODEL_KEY, NAME_KEY)) -> dict[str, Any]:
    """The `wanted` keys the header has (absent ones left out); GGUFError naming the file when
    it is not a GGUF file or its header is cut short."""
    try:
        with open(path, "rb") as f:
            return _read(f, set(wanted), str(path))
    except FileNotFoundError:
        raise GGUFError(f"model file not found: {path}") from None
    except IsADirectoryError:
        raise GGUFError(f"the crispasr engine takes a GGUF file, not a folder: {path}") from None
    except OSError as exc:
        raise GGUFError(f"cannot read {path}: {exc.strerror}") from None


def _read(f: BinaryIO, wanted: set[str], name: str) -> dict[str, Any]:
    if f.read(4) != b"GGUF":
        raise GGUFError(f"{name} is not a GGUF file (no GGUF magic)")
    version = _unpack(f, "<I", name)
    if version < 2:
        raise GGUFError(f"{name}: GGUF version {version} is too old (CrispASR reads 2 and 3)")
    _unpack(f, "<Q", name)  # tensors
    count = _unpack(f, "<Q", name)
    found: dict[str, Any] = {}
    for _ in range(count):
        if wanted <= set(found):
            break
        key = _string(f, name)
        kind = _unpack(f, "<I", name)
        if key in wanted:
            found[key] = _value(f, kind, name)
        else:
            _skip(f, kind, name)
    return found


def _unpack(f: BinaryIO, fmt: str, name: str) -> Any:
    size = struct.calcsize(fmt)
    data = f.read(size)
    if len(data) != size:
        raise GGUFError(f"{name}: the GGUF header is cut short (a truncated or corrupt file)")
    return struct.unpack(fmt, data)[0]


def _string(f: BinaryIO, name: str) -> str:
    n = _unpack(f, "<Q", name)
    if n > _MAX_STRING:
        raise GGUFError(f"{name}: a GGUF string of {n} bytes (a corrupt file)")
    data = f.read(n)
    if len(data) != n:
        raise GGUFError(f"{name}: the GGUF header is cut short (a truncated or corrupt file)")
    return data.decode("utf-8", "replace")


def _value(f: BinaryIO, kind: int, name: str) -> Any:
    if kind in _SCALARS:
        return _unpack(f, _SCALARS[kind], name)
    if kind == _STRING:
        return _string(f, name)
    if kind == _ARRAY:
        item, n = _unpack(f, "<I", name), _unpack(f, "<Q", name)
        return [_value(f, item, name) for _ in range(n)]
    raise GGUFError(f"{name}: unknown GGUF value type {kind} (a corrupt file)")


def _skip(f: BinaryIO, kind: int, name: str) -> None:
    if kind in _SCALARS:
        f.seek(struct.calcsize(_SCALARS[kind]), 1)
    elif kind == _STRING:
        f.seek(_unpack(f, "<Q", name), 1)
    elif kind == _ARRAY:
        item, n = _unpack(f, "<I", name), _unpack(f, "<Q", name)
        if item in _SCALARS:
            f.seek(n * struct.calcsize(_SCALARS[item]), 1)
        else:
            for _ in range(n):
                _skip(f, item, name)
    else:
        raise GGUFError(f"{name}: unknown GGUF value type {kind} (a corrupt file)")


def is_qwen3_asr(keys: dict[str, Any]) -> bool:
    return keys.get(ARCH_KEY) == QWEN3_ASR_ARCH


def random_model_kind(keys: dict[str, Any]) -> str | None:
    """ "test model, random weights[, full shape]" for a file orch's maker wrote; None otherwise."""
    kind = keys.get(TEST_MODEL_KEY)
    return kind if isinstance(kind, str) and kind else None


def model_problem(path: str, keys: dict[str, Any] | None = None) -> str | None:
    """Why `path` is not a Qwen3-ASR GGUF file CrispASR loads, or None."""
    try:
        keys = read_keys(path) if keys is None else keys
    except GGUFError as exc:
        return str(exc)
    if not is_qwen3_asr(keys):
        return (
            f"{path} is a GGUF file of architecture {keys.get(ARCH_KEY)!r}, not {QWEN3_ASR_ARCH!r} "
            "(Qwen3-ASR as CrispASR's converter writes it)"
        )
    return None
