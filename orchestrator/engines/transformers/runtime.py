"""Which torch and transformers the workers will import: the parent's own Python's (workers
run with it), read from the installed packages' metadata, so neither is imported here (torch
takes seconds to import)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from dataclasses import dataclass

from orchestrator.engines.transformers.convert import TARGET_TRANSFORMERS
from orchestrator.engines.transformers.options import INSTALL

# transformers has models/qwen3_asr from this version on
LEAST_TRANSFORMERS = (5, 24)


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None  # None: not importable

    def problem(self) -> str | None:
        if self.version is None:
            return f"{self.name} is not installed in this Python: {INSTALL}"
        if self.name == "transformers" and _major_minor(self.version) < LEAST_TRANSFORMERS:
            return (
                f"transformers {self.version} has no qwen3_asr (needs >= {'.'.join(map(str, LEAST_TRANSFORMERS))}; "
                f"orch's model folders are for {TARGET_TRANSFORMERS}): {INSTALL}"
            )
        return None


def packages() -> list[Package]:
    return [Package(name, _version(name)) for name in ("torch", "transformers")]


def problems() -> list[str]:
    return [p for p in (pkg.problem() for pkg in packages()) if p]


def describe() -> str:
    """ "torch 2.13.0+cpu, transformers 5.24.0" (what the run's record keeps)."""
    return ", ".join(f"{p.name} {p.version or 'missing'}" for p in packages())


def _version(name: str) -> str | None:
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _major_minor(version: str) -> tuple[int, int]:
    m = re.match(r"(\d+)\.(\d+)", version)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)
