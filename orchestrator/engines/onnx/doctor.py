"""The onnx engine's rows in `orch doctor`: sherpa-onnx in the Python the workers run with
(version from metadata, nothing imported), the exporter and its Python for
`make-test-models --runtime onnx` (never blocking a run), orch's test model folders, and the
model folders given. `blocking`: the run being checked uses this engine."""

from __future__ import annotations

import os

from orchestrator.engines.onnx import export, runtime
from orchestrator.engines.onnx.model_folder import ModelFolderError, available_precisions, files_for, random_model_kind
from orchestrator.engines.onnx.options import INSTALL
from orchestrator.engines.onnx.testmodels import DEFAULT_OUT as TINY_DIR
from orchestrator.engines.onnx.testmodels import MANIFEST, find_test_model

TINY_NAMES = ("tiny-asr-a", "tiny-asr-b")


def checks(add, options: dict, strategies: list[str], models: list[str], blocking: bool) -> None:
    for pkg in runtime.packages():
        problem = pkg.problem()
        detail = pkg.version or "not installed"
        if pkg.version:
            detail += (
                f" (orch's engine is written for {runtime.TARGET_SHERPA_ONNX}; it runs its own bundled ONNX Runtime)"
            )
        add(pkg.name, problem is None, detail, INSTALL if problem else "", blocking=blocking)
    _exporter_rows(add)
    have = [n for n in TINY_NAMES if find_test_model(n, "tiny")]
    add(
        f"{TINY_DIR}/ (test models)",
        len(have) == len(TINY_NAMES),
        f"{len(have)} of {len(TINY_NAMES)} present ({MANIFEST})" if have else "not present",
        "orch make-test-models --runtime onnx (needs the exporter and its Python, below)",
        blocking=False,
    )
    precision = options.get("precision") or "fp32"
    for m in models:
        try:
            files_for(m, precision)
        except ModelFolderError as exc:
            add(f"model {m}", False, str(exc) if os.path.exists(m) else "folder not found", blocking=blocking)
            continue
        kind = random_model_kind(m) or "Qwen3-ASR ONNX export"
        add(f"model {m}", True, f"{kind}; precisions {', '.join(available_precisions(m))}")


def _exporter_rows(add) -> None:
    """The exporter clone and its Python: needed only to make models (never blocking)."""
    try:
        folder = export.exporter_folder(None)
        commit = export.git_commit(folder)
        add("onnx exporter", True, f"{folder}" + (f" at {commit[:7]}" if commit else ""), blocking=False)
    except export.ExportError as exc:
        add("onnx exporter", False, f"not found ({export.EXPORTER_ENV} unset or wrong)", str(exc), blocking=False)
    try:
        python = export.export_python(None)
        problems = export.package_problems(export.probe_packages(python))
    except export.ExportError as exc:
        add("onnx export Python", False, f"not found ({export.PYTHON_ENV} unset or wrong)", str(exc), blocking=False)
        return
    add(
        "onnx export Python",
        not any("missing" in p for p in problems),
        f"{python}"
        + (f": {'; '.join(problems)}" if problems else ": qwen-asr, transformers 4.57.6, onnx, onnxruntime"),
        export.EXPORT_VENV_HINT if problems else "",
        blocking=False,
    )
