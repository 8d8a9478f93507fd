"""The worker finds the C library without starting a process (workers/libc.py): malloc_trim
after every unload used to call ctypes.util.find_library, whose `ldconfig -p` ran as a child
inside the sampled process tree before the after_unload mark; the calibration engine did the
same at import."""

from __future__ import annotations

import ctypes.util
import importlib
import os
import subprocess
import sys

import pytest
from workers import libc, loop


@pytest.fixture
def no_processes(monkeypatch):
    """Every way a process could start here is counted and refused; libc's caches emptied."""
    started: list[str] = []

    def refuse(name):
        def start(*args, **kwargs):
            started.append(name)
            raise OSError(f"{name}: no process in this test")

        return start

    monkeypatch.setattr(ctypes.util, "find_library", refuse("find_library"))
    monkeypatch.setattr(subprocess, "Popen", refuse("Popen"))
    for name in ("posix_spawn", "posix_spawnp", "fork", "system"):
        if hasattr(os, name):
            monkeypatch.setattr(os, name, refuse(name))
    libc.libc.cache_clear()
    libc.malloc_trim_function.cache_clear()
    yield started
    libc.libc.cache_clear()
    libc.malloc_trim_function.cache_clear()


def test_malloc_trim_starts_no_process_and_resolves_once(no_processes, monkeypatch):
    opened: list = []
    real = ctypes.CDLL

    def counting(name, *args, **kwargs):
        opened.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(libc.ctypes, "CDLL", counting)
    got = [loop.malloc_trim() for _ in range(4)]
    assert no_processes == []
    assert len(opened) <= 1  # resolved at the first call, never again
    if libc.is_glibc():
        assert all(g in (True, False) for g in got) and opened == [libc.GLIBC_SONAME]
    else:
        assert got == [None] * 4


def test_no_glibc_no_trim(no_processes, monkeypatch):
    monkeypatch.setattr(libc, "is_glibc", lambda: False)
    assert [loop.malloc_trim(), loop.malloc_trim()] == [None, None]
    assert no_processes == []


def test_the_calibration_engine_starts_no_process_at_import(no_processes):
    import workers.engines

    name = "workers.engines.calibration"
    before = sys.modules.pop(name, None)
    try:
        calibration = importlib.import_module(name)
        assert no_processes == []
        assert calibration.native_alloc(0) is None
        ptr = calibration.native_alloc(0.0625)  # memset through the C library found
        assert ptr
        calibration._raw_free(ptr)
    finally:  # the module every other test imported, back in its place
        sys.modules.pop(name, None)
        if before is not None:
            sys.modules[name] = before
            workers.engines.calibration = before
