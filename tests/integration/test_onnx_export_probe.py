"""The onnx exporter's Python asked for its packages by running it (tests/unit/test_onnx_engine_parts.py
has the rest of the engine's parts)."""

import sys

from orchestrator.engines.onnx import export


def test_probe_packages_runs_the_python_given():
    versions = export.probe_packages(sys.executable)
    assert set(versions) == {"qwen-asr", "transformers", "torch", "onnx", "onnxruntime"}
