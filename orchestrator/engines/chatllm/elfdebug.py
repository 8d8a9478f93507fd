"""Whether an ELF shared library carries DWARF debug info (a `.debug_info` section), read from
its section headers with the standard library only: `orch doctor` says whether attribution
will have file:line for chatllm.cpp's and ggml's frames (docs/attribution.md)."""

from __future__ import annotations

import struct
from pathlib import Path

DEBUG_BUILD_HINT = (
    "rebuild chatllm.cpp outside this repository with its own CMake and "
    "-DCMAKE_BUILD_TYPE=RelWithDebInfo for file:line in ggml's frames (attribution works without)"
)


def section_names(path: str | Path) -> list[str]:
    """The section names of a 64-bit little-endian ELF file; ValueError if it is not one."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            raise ValueError(f"{path}: not a 64-bit little-endian ELF file")
        shoff = struct.unpack_from("<Q", head, 0x28)[0]
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        sections = [struct.unpack_from("<IIQQQQ", table, k * shentsize) for k in range(shnum)]
        _name, _type, _flags, _addr, str_off, str_size = sections[shstrndx]
        f.seek(str_off)
        strtab = f.read(str_size)
    return [strtab[s[0] : strtab.index(b"\0", s[0])].decode("ascii", "replace") for s in sections]


def has_debug_info(path: str | Path) -> bool | None:
    """True/False, or None when the file cannot be read as ELF."""
    try:
        return ".debug_info" in section_names(path)
    except (OSError, ValueError, struct.error):
        return None


def ggml_libraries(lib: str | Path) -> list[Path]:
    """The ggml shared libraries beside a chatllm.cpp build's library (build/lib)."""
    root = Path(lib).resolve().parent.parent
    return sorted(p for p in (root / "build" / "lib").glob("libggml*.so*") if not p.is_symlink())


def symbols_note(options) -> str | None:
    """`orch attribute`'s note (the registry entry's `symbols_note`): which of chatllm.cpp's
    libraries carried DWARF (file:line in the stacks); None when the library is not there."""
    from orchestrator.engines.chatllm.paths import resolve

    lib = resolve(options.chatllm_dir, options.main, options.lib).lib
    if not Path(lib).exists():
        return None
    libs = [Path(lib), *ggml_libraries(lib)]
    state = ", ".join(f"{p.name} {'with' if has_debug_info(p) else 'without'} DWARF" for p in libs)
    return f"symbols: {state} (frames without DWARF show the function only, or <unknown>)"
