"""Facts about the machine that go into every result's host block.

Besides what the machine is (CPUs, memory, OS), what a leak-vs-retention call and a speed
comparison between hosts depend on: the C library's version (its malloc decides what
freed memory is kept), transparent hugepages (`always` can make RSS jump by 2 MiB steps
that are no leak), the CPU model and frequency governor, and the load average when the run
started (and, set by the runner, when it ended): a busy host is a slow host. A fact this
host does not have (no cpufreq in a VM or container, no glibc) is None. The files are read
under `root` (a fake /proc and /sys in tests).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path

import psutil

from orchestrator import __version__


def hostname() -> str:
    """This machine's name, as every result's host block records it."""
    return platform.node()


def host_facts(root: str | Path = "/") -> dict:
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
        "glibc": glibc_version(),
        "transparent_hugepage": transparent_hugepage(root),
        "cpu_model": cpu_model(root),
        "cpu_governor": cpu_governor(root),
        "load_avg_start": load_average(),
    }


def glibc_version(confstr: Callable[[str], str | None] | None = None) -> str | None:
    """ "2.36" for glibc 2.36; None for another C library (musl has no such name) or OS."""
    try:
        text = (confstr or os.confstr)("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):  # unknown name, or no confstr (Windows)
        return None
    name, _, version = (text or "").partition(" ")
    return version if name == "glibc" and version else None


def transparent_hugepage(root: str | Path = "/") -> str | None:
    """The selected mode of /sys/kernel/mm/transparent_hugepage/enabled (`always`,
    `madvise` or `never`: the word in brackets); None where there is no such file."""
    text = _read(root, "sys/kernel/mm/transparent_hugepage/enabled")
    if text is None:
        return None
    chosen = [w[1:-1] for w in text.split() if w.startswith("[") and w.endswith("]")]
    return chosen[0] if chosen else None


# /proc/cpuinfo's name for the CPU model: x86, then ARM boards, MIPS, POWER
CPU_MODEL_KEYS = ("model name", "Model", "Hardware", "cpu model", "cpu")


def cpu_model(root: str | Path = "/") -> str | None:
    """The CPU model /proc/cpuinfo gives (the first processor's); None without one."""
    text = _read(root, "proc/cpuinfo")
    if text is None:
        return None
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in CPU_MODEL_KEYS and value.strip() and key not in found:
            found[key] = value.strip()
    return next((found[k] for k in CPU_MODEL_KEYS if k in found), None)


def cpu_governor(root: str | Path = "/") -> str | None:
    """cpu0's frequency governor (`performance`, `powersave`, `schedutil`, ...); None where
    the kernel exposes no cpufreq (most VMs and containers)."""
    text = _read(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    if text is None:
        return None
    return text.strip() or None


def load_average(read: Callable[[], tuple[float, float, float]] | None = None) -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    try:
        return [round(x, 2) for x in (read or os.getloadavg)()]
    except (OSError, AttributeError):
        return None


def _read(root: str | Path, relative: str) -> str | None:
    try:
        return (Path(root) / relative).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
