"""Which OpenVINO packages the workers will import: the parent's own Python's (workers run
with it), read from the installed packages' metadata, so nothing is imported here."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from orchestrator.engines.openvino.options import INSTALL

# (import name, distribution): the pipeline, the inference runtime, the GenAI tokenizer models' ops
PACKAGES = (
    ("openvino_genai", "openvino-genai"),
    ("openvino", "openvino"),
    ("openvino_tokenizers", "openvino-tokenizers"),
)
PINNED = "2026.4.1"  # setup.cfg's `openvino` extra: the versions ASRPipeline was tried with


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None  # None: not importable

    def problem(self) -> str | None:
        if self.version is None:
            return f"{self.name} is not installed in this Python: {INSTALL}"
        return None


def packages() -> list[Package]:
    return [Package(dist, _version(module, dist)) for module, dist in PACKAGES]


def problems() -> list[str]:
    return [p for p in (pkg.problem() for pkg in packages()) if p]


def describe() -> str:
    """ "openvino-genai 2026.4.1.0, openvino 2026.4.1, openvino-tokenizers 2026.4.1.0" (the record keeps it)."""
    return ", ".join(f"{p.name} {p.version or 'missing'}" for p in packages())


def _version(module: str, dist: str) -> str | None:
    try:
        if importlib.util.find_spec(module) is None:
            return None
    except (ImportError, ValueError):
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
