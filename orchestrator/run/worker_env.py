"""The worker's environment: built from an allow list, not inherited (as pyperf's
`create_environ`), so a variable left in the user's shell — LD_PRELOAD, MALLOC_ARENA_MAX,
GLIBC_TUNABLES, PYTHONMALLOC, OMP_NUM_THREADS — cannot change a leak verdict or a speed
unseen.

- ALLOWED (and LC_*): what a worker and its engine need to start and find things (the
  programs on PATH, ffmpeg among them; the locale; a temporary folder; PYTHONPATH, with the
  folder of the `workers` package put first; LD_LIBRARY_PATH for an engine's shared
  libraries; CHATLLM_DIR).
- Passed through: what the user names (`--worker-env NAME` passes orch's own value of NAME;
  `--worker-env NAME=VALUE` sets it); a name not set in orch's environment stays unset.
- Recorded (`WorkerEnvironment`, the result's `environment` block): every variable that
  can change memory or speed — RECORDED, each set or absent (None), and any other one set
  that starts with RECORDED_PREFIXES — as the workers got it; and which such variables
  orch's own environment had that the workers did not get.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from orchestrator.results.model import WorkerEnvironment

WORKERS_DIR = Path(__file__).resolve().parents[2]  # where the `workers` package lives

ALLOWED = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "TEMP",
    "TMP",
    "PYTHONPATH",
    "LD_LIBRARY_PATH",
    "CHATLLM_DIR",
)
ALLOWED_PREFIXES = ("LC_",)

# what can change memory or speed: the dynamic loader and what it preloads, the C
# library's allocator, Python's allocator and optimizer, OpenMP/BLAS thread pools (ggml
# uses OpenMP when built with it)
RECORDED = (
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_BIND_NOW",
    "GLIBC_TUNABLES",
    "MALLOC_ARENA_MAX",
    "MALLOC_ARENA_TEST",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
    "MALLOC_PERTURB_",
    "MALLOC_CHECK_",
    "MALLOC_CONF",
    "PYTHONMALLOC",
    "PYTHONMALLOCSTATS",
    "PYTHONTRACEMALLOC",
    "PYTHONDEVMODE",
    "PYTHONOPTIMIZE",
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "OMP_PROC_BIND",
    "OMP_PLACES",
    "OMP_DYNAMIC",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "KMP_AFFINITY",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
RECORDED_PREFIXES = (
    "LD_",
    "MALLOC_",
    "GLIBC_",
    "PYTHONMALLOC",
    "OMP_",
    "GOMP_",
    "KMP_",
    "OPENBLAS_",
    "MKL_",
    "GGML_",
    "TCMALLOC_",
    "MIMALLOC_",
    "JEMALLOC_",
)

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def affects_memory_or_speed(name: str) -> bool:
    return name in RECORDED or name.startswith(RECORDED_PREFIXES)


def allowed(name: str) -> bool:
    return name in ALLOWED or name.startswith(ALLOWED_PREFIXES)


def parse(specs: list[str] | tuple[str, ...]) -> dict[str, str | None]:
    """`--worker-env` words as {name: value, or None for "orch's own value"}; a later one
    for the same name wins. Names are checked by `problems`."""
    out: dict[str, str | None] = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        out[name] = value if sep else None
    return out


def problems(passed: Mapping[str, str | None]) -> list[str]:
    """Names that cannot be environment variables (one line each, without the option)."""
    return [f"{name!r} is not an environment variable name" for name in passed if not NAME.match(name)]


@dataclass(frozen=True)
class WorkerEnv:
    environ: dict[str, str]  # what every worker of the run is started with, exactly
    record: WorkerEnvironment  # what the result says of it


def build(passed: Mapping[str, str | None] | None = None, parent: Mapping[str, str] | None = None) -> WorkerEnv:
    """The workers' environment from `parent` (orch's own, by default) and the names the
    user passed through, and its record."""
    parent = os.environ if parent is None else parent
    passed = dict(passed or {})
    environ = {k: v for k, v in parent.items() if allowed(k)}
    for name, value in passed.items():
        given = parent.get(name) if value is None else value
        if given is None:
            environ.pop(name, None)  # named, but not set here: the worker does not have it either
        else:
            environ[name] = given
    environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(WORKERS_DIR), environ.get("PYTHONPATH", "")) if p)
    environ.setdefault("PYTHONUNBUFFERED", "1")
    return WorkerEnv(environ=environ, record=record(environ, passed, parent))


def record(
    environ: Mapping[str, str], passed: Mapping[str, str | None], parent: Mapping[str, str]
) -> WorkerEnvironment:
    names = sorted(set(RECORDED) | {k for k in environ if affects_memory_or_speed(k)})
    return WorkerEnvironment(
        variables={k: environ.get(k) for k in names},
        passed=sorted(passed),
        dropped=sorted(k for k in parent if affects_memory_or_speed(k) and k not in environ),
    )
