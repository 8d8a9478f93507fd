"""Facts about the machine and the input that go into every result."""

from __future__ import annotations

import os
import platform
import wave

import psutil

from orchestrator import __version__


def host_facts() -> dict:
    freq = psutil.cpu_freq()
    return {
        "hostname": platform.node(), "os": platform.platform(), "machine": platform.machine(),
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "cpus_physical": psutil.cpu_count(logical=False),
        "cpu_mhz": round(freq.max or freq.current) if freq else None,
        "mem_total_mb": round(psutil.virtual_memory().total / 2**20),
        "orch_version": __version__,
    }


class AudioError(Exception):
    pass


def audio_seconds(path: str) -> float | None:
    """Length of a WAV file; None for other formats (RTF is then not reported)."""
    if not os.path.exists(path):
        raise AudioError(f"audio file not found: {path}")
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError):
        return None
