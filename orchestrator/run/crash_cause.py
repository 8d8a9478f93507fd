"""Why a worker ended: the cause its stderr names, and whether a SIGKILL was the kernel's
out-of-memory killer.

The worker log keeps everything the worker printed; the "why" a result carries keeps only
what explains the end. An engine's known noise (lines that are never the cause, e.g. the
chatllm.cpp bindings' "`requests` is required" on import) is declared by the engine's package
(`EngineSpec.log_noise`) and dropped from the why; a line naming an assertion or an abort
(GGML_ASSERT, "Assertion `...' failed", glibc's "free(): invalid pointer") is put first.

A SIGKILL that orch did not send is called an out-of-memory kill only with evidence: the
kernel log (`dmesg`, when readable) naming the worker's pid, a rise of the memory cgroup's
oom_kill count during the worker's life (v2 `memory.events`, v1 `memory.oom_control`), or the
worker's last sampled RSS within NEAR_LIMIT_SHARE of the memory limit (the cgroup's, else the
host's MemTotal). Without any, the text says so.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

# a last RSS at or above this share of the memory limit counts as evidence of an OOM kill
NEAR_LIMIT_SHARE = 0.9
# lines of a worker's stderr that name why it aborted (the last such line is the cause): an
# assertion or the C library's own words first, a bare "Aborted" only when there is none
ASSERTION = re.compile(
    r"GGML_ASSERT|Assertion [`'].*' failed|assertion failed|\bassert(ion)?\b.*\bfail"
    r"|(free|malloc|realloc|munmap_chunk|double free)\(\)|double free or corruption|corrupted (size|double)"
    r"|terminate called|stack smashing",
    re.IGNORECASE,
)
ABORT = re.compile(r"\babort(ed)?\b|Segmentation fault", re.IGNORECASE)
LOG_LINES = 8  # at most this many of the log's last meaningful lines go into the why
LINE_CHARS = 300  # each cut to this many characters


def meaningful_lines(log: str, noise: Sequence[str]) -> list[str]:
    """The log's non-empty lines, without those matching any of the engine's noise patterns."""
    patterns = [re.compile(p) for p in noise]
    return [ln.rstrip() for ln in log.splitlines() if ln.strip() and not any(p.search(ln) for p in patterns)]


def assertion_line(lines: Sequence[str]) -> str | None:
    """The last line that names an assertion (else an abort), or None."""
    for pattern in (ASSERTION, ABORT):
        for line in reversed(lines):
            if pattern.search(line):
                return line.strip()[:300]
    return None


def cause_suffix(log: str, why: str, noise: Sequence[str] = ()) -> str:
    """ ": <the assertion line>" when the log names one that `why` does not say yet, else ""."""
    cause = assertion_line(meaningful_lines(log, noise))
    return f": {cause}" if cause and cause not in why else ""


def log_block(lines: Sequence[str]) -> str:
    """The last LOG_LINES meaningful lines, as the why's tail ("" when there are none)."""
    tail = "\n".join(line[:LINE_CHARS] for line in lines[-LOG_LINES:])
    return f"\nworker log tail:\n{tail}" if tail else ""


@dataclass(frozen=True)
class OomEvidence:
    """What tells an out-of-memory kill from a kill from outside; None: could not be read."""

    dmesg: bool | None = None  # the kernel log names the pid as killed for memory
    oom_kills: int | None = None  # the cgroup's oom_kill count's rise during the worker's life
    last_rss_mb: float | None = None
    limit_mb: float | None = None

    def reasons(self) -> list[str]:
        out = []
        if self.dmesg:
            out.append("the kernel log names it")
        if self.oom_kills:
            out.append(f"the memory cgroup's oom_kill count rose by {self.oom_kills}")
        if self.last_rss_mb and self.limit_mb and self.last_rss_mb >= NEAR_LIMIT_SHARE * self.limit_mb:
            out.append(f"its last RSS {self.last_rss_mb:.0f} MB was near the {self.limit_mb:.0f} MB limit")
        return out


def kill_text(sig: str, evidence: OomEvidence) -> str:
    """How a worker killed by `sig` (not by orch) ended, with the OOM guess only on evidence."""
    num = int(signal.Signals[sig])
    reasons = evidence.reasons()
    if reasons:
        return f"worker killed by signal {num} ({sig}): the kernel's OOM killer ({'; '.join(reasons)})"
    looked = [
        name
        for name, value in (("kernel log", evidence.dmesg), ("cgroup oom_kill count", evidence.oom_kills))
        if value is not None
    ]
    if evidence.last_rss_mb is not None and evidence.limit_mb:
        looked.append(f"last RSS {evidence.last_rss_mb:.0f} of {evidence.limit_mb:.0f} MB")
    checked = f" (checked: {', '.join(looked)})" if looked else " (kernel log and cgroup not readable)"
    return f"worker killed by signal {num} ({sig}) from outside; no sign of an out-of-memory kill{checked}"


# ------------------------------------------------------------------ readers (the host)
# (the file with the oom_kill count, the file with the limit) per cgroup version
_FILES = {2: ("memory.events", "memory.max"), 1: ("memory.oom_control", "memory.limit_in_bytes")}
_CG = Path("/proc/self/cgroup")
_ROOT = Path("/sys/fs/cgroup")


def _cgroup_dirs(proc_cgroup: Path, root: Path) -> list[tuple[Path, int]]:
    """orch's memory cgroup directories, most specific first, with their version (2 or 1)."""
    out: list[tuple[Path, int]] = []
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and not controllers:
            out.append((root / path.lstrip("/"), 2))
        elif "memory" in controllers.split(","):
            out.append((root / "memory" / path.lstrip("/"), 1))
    return out + [(root, 2), (root / "memory", 1)]  # a namespaced mount shows its own cgroup at the root


def oom_kill_count(proc_cgroup: Path = _CG, root: Path = _ROOT) -> int | None:
    """The oom_kill count of orch's memory cgroup (v2 memory.events, v1 memory.oom_control),
    None when not readable."""
    for d, version in _cgroup_dirs(proc_cgroup, root):
        try:
            for line in (d / _FILES[version][0]).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


def memory_limit_mb(proc_cgroup: Path = _CG, root: Path = _ROOT) -> float | None:
    """The memory cgroup's limit, else the host's MemTotal (MB); None when neither is readable."""
    for d, version in _cgroup_dirs(proc_cgroup, root):
        try:
            text = (d / _FILES[version][1]).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" (v2) or a huge number (v1): no limit
            return int(text) / 2**20
        break
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def dmesg_names_oom(pid: int, run: Callable[..., subprocess.CompletedProcess] = subprocess.run) -> bool | None:
    """Whether the kernel log says `pid` was killed for memory; None when it cannot be read."""
    try:
        out = run(["dmesg"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    pat = re.compile(rf"(Killed process {pid}\b|Out of memory.*\b{pid}\b|oom-kill:.*\bpid={pid}\b)")
    return any(pat.search(line) for line in out.stdout.splitlines())
