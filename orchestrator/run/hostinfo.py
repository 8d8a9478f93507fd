"""Facts about the machine that go into every result's host block."""

from __future__ import annotations

import os
import platform

import psutil

from orchestrator import __version__


def hostname() -> str:
    """This machine's name, as every result's host block records it."""
    return platform.node()


def host_facts() -> dict:
    freq = psutil.cpu_freq()
    return {
        "hostname": hostname(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpus_physical": psutil.cpu_count(logical=False),
        "cpu_mhz": round(freq.max or freq.current) if freq else None,
        "mem_total_mb": round(psutil.virtual_memory().total / 2**20),
        "orch_version": __version__,
    }
