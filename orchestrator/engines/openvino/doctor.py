"""The openvino engine's rows in `orch doctor`: openvino-genai (and openvino, openvino-tokenizers)
in the Python the workers run with (versions from metadata, nothing imported), the export
Python (ORCH_EXPORT_PYTHON) that makes models, orch's test model folders, and the model folders
given. `blocking`: the run being checked uses this engine."""

from __future__ import annotations

import os

from orchestrator.engines.openvino import export, runtime
from orchestrator.engines.openvino.model_folder import ModelFolderError, precision, random_model_kind, read_config
from orchestrator.engines.openvino.options import INSTALL
from orchestrator.engines.openvino.testmodels import DEFAULT_OUT as TINY_DIR

TINY = ("tiny-asr-a", "tiny-asr-b")  # the aligner is not made (no export of it)


def checks(add, options: dict, strategies: list[str], models: list[str], blocking: bool) -> None:
    for pkg in runtime.packages():
        problem = pkg.problem()
        detail = pkg.version or "not installed"
        if pkg.version and not pkg.version.startswith(runtime.PINNED):
            detail += f" (tried with {runtime.PINNED})"
        add(pkg.name, problem is None, detail, INSTALL if problem else "", blocking=blocking)
    _export_python(add)
    have = [n for n in TINY if os.path.isfile(os.path.join(TINY_DIR, n, "openvino_decoder_model.xml"))]
    add(
        f"{TINY_DIR}/ (test models)",
        len(have) == len(TINY),
        f"{len(have)} of {len(TINY)} present" if have else "not present",
        "orch make-test-models --runtime openvino --export-python VENV/bin/python (tiny random-weight exports)",
        blocking=False,
    )
    for m in models:
        try:
            config = read_config(m)
        except ModelFolderError as exc:
            add(f"model {m}", False, str(exc), blocking=blocking)
            continue
        kind = random_model_kind(config) or "OpenVINO export"
        stored = precision(m)
        add(f"model {m}", True, f"qwen3_asr ({kind}{f', {stored}' if stored else ''})")


def _export_python(add) -> None:
    """The Python that exports models (only `make-test-models --runtime openvino` needs it)."""
    python = os.environ.get(export.ENV)
    name = f"export Python ({export.ENV})"
    if not python:
        add(name, False, "not set (only needed to make models)", export.VENV_HINT, blocking=False)
        return
    try:
        versions = export.check_export_python(export.export_python(python))
    except export.ExportError as exc:
        add(name, False, str(exc).split(": ")[0], export.VENV_HINT, blocking=False)
        return
    said = ", ".join(f"{d} {versions[d]}" for d in ("optimum-intel", "qwen-asr", "transformers"))
    add(name, True, f"{python}: {said}", blocking=False)
