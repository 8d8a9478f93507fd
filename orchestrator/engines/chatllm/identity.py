"""Which chatllm.cpp build a run used, from its result's engine block (the history's `build`
column, through the registry entry's `build_identity`): the checkout's commit and, when the
library file can be read, `lib:` and its hash — `4a4310e165ca+lib:6849456a6502` (the commit
alone does not tell a patched working tree from upstream; the hash does)."""

from __future__ import annotations

import hashlib
import os

LIB_HASH_BYTES = 4 * 1024 * 1024


def lib_hash(path) -> str | None:
    """sha256 (12 hex digits) of a library file's first 4 MiB and its size; None when it
    cannot be read. The first MiBs hold the ELF headers and the GNU build-id, which a
    relink changes; the size catches the rest."""
    try:
        with open(path, "rb") as f:
            head = f.read(LIB_HASH_BYTES)
            size = os.fstat(f.fileno()).st_size
    except (OSError, TypeError, ValueError):
        return None
    return hashlib.sha256(head + b"\0" + str(size).encode()).hexdigest()[:12]


def build_identity(engine: dict, hash_lib: bool) -> str | None:
    """The commit, and `lib:<hash>` when `hash_lib` and the library can be read; None: neither."""
    parts = [str(engine["commit"])] if engine.get("commit") else []
    digest = lib_hash(engine.get("lib")) if hash_lib and engine.get("lib") else None
    if digest:
        parts.append(f"lib:{digest}")
    return "+".join(parts) or None
