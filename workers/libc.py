"""The C library from inside a worker, found without starting a process.

`ctypes.util.find_library("c")` runs `ldconfig -p` (and on some systems a compiler) as a child:
inside the worker's process tree that orch samples. Here glibc is known by `confstr` (no
process) and opened by its soname, `libc.so.6` (what find_library names on glibc); on any
other C library the interpreter's own symbols (`dlopen(NULL)`), where its C library's are.
Resolved once (the C library is already mapped: opening it again maps nothing)."""

from __future__ import annotations

import ctypes
import functools
import os

GLIBC_SONAME = "libc.so.6"


def is_glibc() -> bool:
    """The interpreter runs on glibc (`confstr(_CS_GNU_LIBC_VERSION)`; musl and macOS have none)."""
    try:
        return (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc")
    except (ValueError, OSError, AttributeError):
        return False


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library: glibc by its soname, else the interpreter's global symbols."""
    if is_glibc():
        try:
            return ctypes.CDLL(GLIBC_SONAME)
        except OSError:
            pass
    return ctypes.CDLL(None)


@functools.cache
def malloc_trim_function():
    """glibc's `malloc_trim`, typed; None where there is none (not glibc: musl, macOS)."""
    if not is_glibc():
        return None
    try:
        trim = libc().malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim
