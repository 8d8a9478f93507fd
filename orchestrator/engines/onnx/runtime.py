"""Which sherpa-onnx the workers will import: the parent's own Python's (workers run with it),
read from the installed packages' metadata, so nothing is imported here.

sherpa-onnx's wheel (sherpa-onnx-core) carries its own libonnxruntime.so: that library runs
the model, not the `onnxruntime` package pip may also have installed (2.0.1 bundles ONNX
Runtime 1.28.2; PyPI's onnxruntime is only the exporter's quantizer). The worker records the
bundled library's own version string."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from orchestrator.engines.onnx.options import INSTALL

# the version whose `OfflineRecognizer.from_qwen3_asr` the worker calls (setup.cfg pins it)
TARGET_SHERPA_ONNX = "2.0.1"


@dataclass(frozen=True)
class Package:
    name: str
    version: str | None  # None: not importable

    def problem(self) -> str | None:
        if self.version is None:
            return f"{self.name} is not installed in this Python: {INSTALL}"
        return None


def packages() -> list[Package]:
    return [Package("sherpa-onnx", _version("sherpa_onnx", "sherpa-onnx"))]


def problems() -> list[str]:
    return [p for p in (pkg.problem() for pkg in packages()) if p]


def describe() -> str:
    """ "sherpa-onnx 2.0.1" (what the run's record keeps; the worker adds ONNX Runtime's)."""
    return ", ".join(f"{p.name} {p.version or 'missing'}" for p in packages())


def _version(module: str, dist: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
