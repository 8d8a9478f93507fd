"""orch's HF folder -> the ONNX files sherpa-onnx runs, by a public exporter run in a Python
of its own.

The exporter is github.com/Wasser1462/Qwen3-ASR-onnx `export_qwen3_asr_onnx.py` (the one
sherpa-onnx's docs point to; the published zengshuishui/Qwen3-ASR-onnx models are its
output). It stays outside orch's repository, as chatllm.cpp's convert.py does: a clone given
by --onnx-exporter or ONNX_EXPORTER_DIR. It loads the original Qwen3-ASR layout, which orch
writes, through the official `qwen-asr` package, and qwen-asr 0.0.6 pins transformers 4.57.6,
while orch's transformers engine needs 5.24: so it runs in another Python (a venv), given by
--export-python or ORCH_EXPORT_PYTHON. It writes fp32 graphs (weights in external .data files)
and int8 ones (onnxruntime's dynamic quantization of MatMul/Gemm), and checks both against
torch with --verify.

Why not transformers 5.24's own `transformers/exporters/exporter_onnx.py` (checked, not used):
it needs onnxscript (not installed), and it splits the model into components
(decompose_for_generation: audio encoder, projector, language model, lm_head, decode step)
that transformers' runners drive with torch tensors; plain onnxruntime would then need a
mel front-end, the prompt, the KV-cache loop and greedy search written in orch, so orch would
measure its own loop, not a runtime's. sherpa-onnx is a runtime with all of that in C++, and
this exporter is what it is documented with.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from orchestrator.engines.qwen3asr_weights import MakeError

EXPORTER_SCRIPT = "export_qwen3_asr_onnx.py"
EXPORTER_REPO = "https://github.com/Wasser1462/Qwen3-ASR-onnx"
EXPORTER_ENV = "ONNX_EXPORTER_DIR"
PYTHON_ENV = "ORCH_EXPORT_PYTHON"
# what the exporter's Python needs (transformers 4.57.6 comes with qwen-asr 0.0.6; torch from
# the system Python through --system-site-packages)
EXPORT_PACKAGES = {"qwen-asr": "0.0.6", "transformers": "4.57.6", "onnx": "1.23.2", "onnxruntime": "1.32.0"}
EXPORT_VENV_HINT = (
    "python -m venv --system-site-packages VENV && VENV/bin/pip install "
    + " ".join(f"{k}=={v}" for k, v in EXPORT_PACKAGES.items())
    + f" (torch from this Python; then --export-python VENV/bin/python or {PYTHON_ENV}; "
    "`VENV/bin/pip uninstall -y torchvision` if pip put one that does not match torch)"
)
EXPORTER_HINT = f"git clone {EXPORTER_REPO} DIR (then --onnx-exporter DIR or {EXPORTER_ENV})"

# run in the exporter's Python: qwen_asr registers Qwen3-ASR with transformers' Auto classes,
# then the script runs as its own __main__ with the clone on sys.path (it imports its modules)
DRIVER = (
    "import runpy, sys; sys.path.insert(0, sys.argv[1]); import qwen_asr; "
    "script = sys.argv[1] + '/" + EXPORTER_SCRIPT + "'; sys.argv = [script] + sys.argv[2:]; "
    "runpy.run_path(script, run_name='__main__')"
)
PROBE = (
    "import importlib.metadata as m, json; out = {}\n"
    "for n in ('qwen-asr', 'transformers', 'torch', 'onnx', 'onnxruntime'):\n"
    "    try: out[n] = m.version(n)\n"
    "    except m.PackageNotFoundError: out[n] = None\n"
    "print(json.dumps(out))"
)


class ExportError(MakeError):
    """The export cannot run or failed (exit 2, as every make-test-models refusal)."""


@dataclass(frozen=True)
class Exporter:
    python: str
    folder: Path
    commit: str | None  # the clone's HEAD, None when it is not a git checkout
    packages: dict[str, str | None]  # versions in the exporter's Python


def exporter_folder(given: str | None) -> Path:
    value = given or os.environ.get(EXPORTER_ENV)
    if not value:
        raise ExportError(f"the onnx export needs the exporter's clone: {EXPORTER_HINT}")
    folder = Path(value).expanduser()
    if not (folder / EXPORTER_SCRIPT).is_file():
        raise ExportError(f"{folder} has no {EXPORTER_SCRIPT}: {EXPORTER_HINT}")
    return folder


def export_python(given: str | None) -> str:
    value = given or os.environ.get(PYTHON_ENV)
    if not value:
        raise ExportError(
            f"the onnx export runs in a Python of its own (qwen-asr pins transformers 4.57.6): {EXPORT_VENV_HINT}"
        )
    if not os.access(value, os.X_OK):
        raise ExportError(f"export Python {value} is not an executable file: {EXPORT_VENV_HINT}")
    return value


def probe_packages(python: str) -> dict[str, str | None]:
    """The versions the exporter's Python has (None: missing); ExportError when it does not run."""
    try:
        proc = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExportError(f"export Python {python} does not run: {exc}") from None
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ExportError(f"export Python {python} does not run: {proc.stderr.strip()[-200:]}") from None


def package_problems(packages: dict[str, str | None]) -> list[str]:
    out = []
    for name, want in EXPORT_PACKAGES.items():
        have = packages.get(name)
        if have is None:
            out.append(f"{name} missing")
        elif name in ("qwen-asr", "transformers") and have != want:
            out.append(f"{name} {have} (the exporter is known to work with {want})")
    if packages.get("torch") is None:
        out.append("torch missing")
    return out


def git_commit(folder: Path) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True)
    except OSError:
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def find_exporter(given_dir: str | None, given_python: str | None) -> Exporter:
    """The exporter and its Python, checked; ExportError (exit 2) saying how to get what is missing."""
    folder = exporter_folder(given_dir)
    python = export_python(given_python)
    packages = probe_packages(python)
    missing = [p for p in package_problems(packages) if "missing" in p]
    if missing:
        raise ExportError(f"export Python {python}: {', '.join(missing)}: {EXPORT_VENV_HINT}")
    return Exporter(python, folder, git_commit(folder), packages)


def export_command(exporter: Exporter, source: Path, out: Path, max_total_len: int, int8: bool) -> list[str]:
    argv = [exporter.python, "-c", DRIVER, str(exporter.folder.resolve())]
    argv += ["--model", str(source.resolve()), "--outdir", str(out.resolve()), "--device", "cpu"]
    argv += ["--max-total-len", str(max_total_len), "--verify"]
    return argv + ([] if int8 else ["--no-int8"])


def run_export(exporter: Exporter, source: Path, out: Path, max_total_len: int, int8: bool, log: Path) -> None:
    """Run the export into `out`, its output in `log`; ExportError with its last line on failure."""
    out.mkdir(parents=True, exist_ok=True)
    argv = export_command(exporter, source, out, max_total_len, int8)
    env = dict(os.environ, PYTHONNOUSERSITE="1")
    env.pop("PYTHONPATH", None)  # orch's own tree must not shadow the exporter's modules
    with open(log, "w", encoding="utf-8") as f:
        proc = subprocess.run(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=str(exporter.folder))
    if proc.returncode != 0:
        lines = [ln for ln in log.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
        raise ExportError(
            f"the ONNX export of {source} failed (exit {proc.returncode}): {lines[-1] if lines else ''} (log: {log})"
        )
