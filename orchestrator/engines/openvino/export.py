"""orch's HF folder -> the OpenVINO IR folder ASRPipeline loads, by optimum-intel's own exporter,
run in a Python of its own.

Why a second Python: optimum-intel 2.2.0 exports qwen3_asr through the official `qwen_asr`
package (0.0.6), which pins transformers 4.57.6; orch's workers run with transformers 5.24
(the transformers engine). The export therefore runs as
`EXPORT_PYTHON -m optimum.commands.optimum_cli export openvino --task
automatic-speech-recognition-with-past --weight-format W` in a venv that has them
(`--export-python PATH` or ORCH_EXPORT_PYTHON; doctor prints how to make one). At run time the
engine needs only openvino-genai in orch's own Python.

The source is `hf_prep.prepared_copy` of the folder `write_hf_folder` writes: the same weights
every runtime gets, told its own ASR token ids (151671..., not the published 151676...).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.engines.hf_prep import prepared_copy
from orchestrator.errors import OrchError

TASK = "automatic-speech-recognition-with-past"
# optimum-cli's --weight-format values orch makes (int8/int4: NNCF weight compression)
PRECISIONS = ("fp32", "fp16", "int8", "int4")
ENV = "ORCH_EXPORT_PYTHON"
# what the export Python must import (import name, distribution name) and the versions tried
EXPORT_PACKAGES = (
    ("optimum.intel", "optimum-intel"),
    ("optimum", "optimum"),
    ("qwen_asr", "qwen-asr"),
    ("transformers", "transformers"),
    ("torch", "torch"),
    ("nncf", "nncf"),
    ("openvino", "openvino"),
    ("openvino_tokenizers", "openvino-tokenizers"),
)
TESTED = {"optimum-intel": "2.2.0", "qwen-asr": "0.0.6", "transformers": "4.57.6"}
# what the export venv installs (doctor's hint and .ci/openvino_export_env.sh read it)
VENV_PACKAGES = ("optimum-intel==2.2.0", "openvino-genai==2026.4.1.0", "qwen-asr==0.0.6")
# how to make the export Python (doctor and the errors say it); --system-site-packages takes
# torch 2.13.0+cpu from orch's own Python (`.[transformers]`) and naming torch==2.13.0 keeps it
# (else pip resolves torchvision's newest, which pulls a multi-GB CUDA torch)
VENV_HINT = (
    "python3.11 -m venv --system-site-packages VENV && "
    f"VENV/bin/pip install torch==2.13.0 {' '.join(VENV_PACKAGES)} && "
    "VENV/bin/pip uninstall -y torchvision"
    "   (torchvision from PyPI does not match torch 2.13.0+cpu: importing transformers fails); "
    f"then --export-python VENV/bin/python or {ENV}=VENV/bin/python"
)
IR_FILES = (
    "openvino_encoder_model.xml",
    "openvino_encoder_model.bin",
    "openvino_decoder_model.xml",
    "openvino_decoder_model.bin",
    "openvino_tokenizer.xml",
    "openvino_detokenizer.xml",
)
PROBE = """
import importlib.metadata as m, importlib.util as u, json, sys
out = {}
for mod, dist in json.loads(sys.argv[1]):
    try:
        found = u.find_spec(mod) is not None
    except ImportError:
        found = False
    try:
        out[dist] = m.version(dist) if found else None
    except m.PackageNotFoundError:
        out[dist] = "unknown"
print(json.dumps(out))
"""


class ExportError(OrchError):
    """The export cannot run or failed (exit 2)."""


@dataclass(frozen=True)
class Exported:
    folder: Path
    precision: str
    seconds: float
    peak_rss_bytes: int  # the export process's own (ru_maxrss)
    bytes: int  # the folder's files


def export_python(given: str | None) -> str:
    """The Python that exports: the flag, else ORCH_EXPORT_PYTHON; ExportError saying how to make one."""
    python = given or os.environ.get(ENV)
    if not python:
        raise ExportError(f"the OpenVINO export needs its own Python (--export-python or {ENV}): {VENV_HINT}")
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise ExportError(f"--export-python {python}: not an executable file")
    return python


def export_versions(python: str) -> dict[str, str | None]:
    """The export packages' versions in `python` (None: missing), without importing them."""
    try:
        proc = subprocess.run(
            [python, "-c", PROBE, json.dumps(EXPORT_PACKAGES)], capture_output=True, text=True, timeout=60
        )
        return json.loads(proc.stdout)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {dist: None for _mod, dist in EXPORT_PACKAGES}


def check_export_python(python: str) -> dict[str, str | None]:
    """Its versions; ExportError naming what is missing."""
    versions = export_versions(python)
    missing = [d for d, v in versions.items() if v is None]
    if missing:
        raise ExportError(f"{python} has no {', '.join(missing)}: {VENV_HINT}")
    return versions


def export(source: Path, out: Path, precision: str, python: str, work: Path) -> Exported:
    """Export orch's HF folder `source` to `out` at `precision`; the prepared copy goes under
    `work` and is removed. A failed export leaves no half-written `out`."""
    if precision not in PRECISIONS:
        raise ExportError(f"precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    prepared = prepared_copy(source, work / f"{source.name}-prepared")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [python, "-m", "optimum.commands.optimum_cli", "export", "openvino", "-m", str(prepared)]
    cmd += ["--task", TASK, "--weight-format", precision, str(partial)]
    try:
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log_f:
            started = time.monotonic()
            proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT)
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except BaseException:  # Ctrl-C: no half-written model is left behind
                proc.kill()
                proc.wait()
                raise
            code = os.waitstatus_to_exitcode(status)
            seconds = time.monotonic() - started
            log_f.seek(0)
            log = log_f.read().strip()
        missing = [f for f in IR_FILES if not (partial / f).is_file()]
        if code != 0 or missing:
            said = f"exit {code}" if code else f"no {', '.join(missing)}"
            raise ExportError(f"optimum-cli export openvino failed for {source.name} ({said}):\n{log[-1500:]}")
        shutil.rmtree(out, ignore_errors=True)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.rmtree(prepared, ignore_errors=True)
    return Exported(
        folder=out,
        precision=precision,
        seconds=round(seconds, 1),
        peak_rss_bytes=usage.ru_maxrss * 1024,
        bytes=sum(f.stat().st_size for f in out.iterdir() if f.is_file()),
    )
