"""Random-weight test models for the openvino engine: the very weights of orch's other test
models (the same seeded HF folder, `write_hf_folder`), exported by optimum-intel (export.py)
in a Python of its own.

Each model goes to OUT/<name>/ (fp32) or OUT/<name>-<precision>/ (fp16, int8, int4), a folder
ASRPipeline loads, and OUT/openvino-models.json says which folder came from which source
folder at which precision, exported by what. The source folder is written under OUT/hf/<name>
and removed unless `keep_hf`. The forced aligner is not made: optimum-intel has no export of
it, and ASRPipeline does not align.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from math import prod
from pathlib import Path

import click

from orchestrator.engines.openvino import export as ov_export
from orchestrator.engines.openvino.export import PRECISIONS, ExportError
from orchestrator.engines.qwen3asr_weights import (
    ALL_SPECS,
    FULL_SPECS,
    GB,
    LOCK,
    MakeError,
    TinySpec,
    disk_free,
    mem_available,
    pick,
    read_manifest,
    weight_shapes,
    write_hf_folder,
)

DEFAULT_OUT = "models/tiny-openvino"  # git ignores it
FULL_OUT = "models/full-openvino"
MANIFEST = "openvino-models.json"
BYTES_PER_VALUE = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5 + 1 / 64}  # int4: group scales
# the folder's tokenizer files and the two GenAI tokenizer models beside the IR (measured, tiny: 24 MB)
EXTRA_BYTES = 25 * 2**20
# the export's peak (its own ru_maxrss): 1.17 GB at tiny shape (python, torch, transformers,
# openvino), 5.57 GB for shape-qwen3-asr-0.6b (3.13 GB of float32 weights): base + about 1.4
# float32 copies (the model in torch, the IR written tensor by tensor). With 20% to spare:
EXPORT_BASE = 1_300 * 10**6
EXPORT_COPIES = 1.7


@dataclass(frozen=True)
class MadeModel:
    name: str
    folder: Path
    made: bool  # False: it was there already (kept; `force` remakes it)


def folder_name(name: str, precision: str) -> str:
    return name if precision == "fp32" else f"{name}-{precision}"


def float32_bytes(spec: TinySpec) -> int:
    return 4 * sum(prod(s) for s in weight_shapes(spec).values())


def needs(spec: TinySpec, precision: str) -> tuple[int, int]:
    """(memory, disk) bytes one export takes: the float32 source folder and the folder made;
    memory is the export process's peak (estimated, see EXPORT_COPIES)."""
    f32 = float32_bytes(spec)
    disk = f32 + EXTRA_BYTES + int(f32 / 4 * BYTES_PER_VALUE[precision]) + EXTRA_BYTES
    return int(EXPORT_BASE + EXPORT_COPIES * f32), disk


def make_openvino_test_models(
    out_dir: Path | str = DEFAULT_OUT,
    names: Sequence[str] = ("tiny-asr-a", "tiny-asr-b"),
    precision: str = "fp32",
    python: str | None = None,
    force: bool = False,
    keep_hf: bool = False,
) -> list[MadeModel]:
    """Make (or keep) the named ASR models under `out_dir` and update its manifest. MakeError
    or ExportError (exit 2) for an unknown name, an aligner, a precision optimum-cli does not
    write, no export Python, or too little memory or disk, before anything is written."""
    unknown = [n for n in names if n not in ALL_SPECS]
    if unknown:
        raise MakeError(f"unknown test model {', '.join(unknown)}: choose from {', '.join(ALL_SPECS)}")
    aligners = [n for n in names if ALL_SPECS[n].aligner]
    if aligners:
        raise MakeError(f"{', '.join(aligners)}: optimum-intel exports no forced aligner, ASRPipeline does not align")
    if precision not in PRECISIONS:
        raise MakeError(f"precision {precision!r}: choose from {', '.join(PRECISIONS)}")
    out = Path(out_dir)
    todo = [n for n in dict.fromkeys(names) if force or not (out / folder_name(n, precision) / "config.json").exists()]
    versions: dict[str, str | None] = {}
    exe = ""
    if todo:
        exe = ov_export.export_python(python)
        versions = ov_export.check_export_python(exe)
        _check_resources(todo, out, precision, keep_hf)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    entries = read_manifest(manifest_path)
    made = []
    lock = _lock() if todo else None
    try:
        for name in dict.fromkeys(names):
            folder = out / folder_name(name, precision)
            if name not in todo:
                made.append(MadeModel(name, folder, made=False))
                continue
            entries[folder.name] = _make_one(name, out, precision, exe, versions, keep_hf)
            made.append(MadeModel(name, folder, made=True))
            # written after every model: one made before a failure is not left out
            manifest_path.write_text(json.dumps({"models": entries}, indent=1) + "\n", encoding="utf-8")
    finally:
        if lock is not None:
            lock.release()
        if not keep_hf:
            shutil.rmtree(out / "hf", ignore_errors=True)
    return made


def _check_resources(todo: list[str], out: Path, precision: str, keep_hf: bool) -> None:
    each = {n: needs(ALL_SPECS[n], precision) for n in todo}
    memory = max(m for m, _ in each.values())
    hf = [float32_bytes(ALL_SPECS[n]) + EXTRA_BYTES for n in todo]
    disk = sum(d for _, d in each.values()) - (0 if keep_hf else sum(hf) - max(hf))
    have_mem, have_disk = mem_available(), disk_free(out)
    problems = []
    if have_mem is not None and memory > have_mem:
        problems.append(f"needs about {memory / GB:.1f} GB of memory, MemAvailable is {have_mem / GB:.1f} GB")
    if disk > have_disk:
        problems.append(f"needs about {disk / GB:.1f} GB of disk under {out}, {have_disk / GB:.1f} GB free")
    if problems:
        raise MakeError("not exporting: " + "; ".join(problems))


def _lock():
    """One conversion at a time on the machine (the lock chatllm.cpp's maker takes too): an
    export waits for the one under way, saying so."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        click.echo(f"waiting for the conversion under way to finish (lock {LOCK}) ...")
        lock.acquire(timeout=-1)
    return lock


def _make_one(name: str, out: Path, precision: str, python: str, versions: dict, keep_hf: bool) -> dict:
    """Write one model's source folder, export it; its manifest entry."""
    spec = ALL_SPECS[name]
    source = out / "hf" / name
    click.echo(f"{name}: writing {source} ...")
    started = time.monotonic()
    write_hf_folder(spec, source)
    written = time.monotonic() - started
    click.echo(f"{name}: exporting with optimum-cli ({precision}, {python}) ...")
    try:
        done = ov_export.export(source, out / folder_name(name, precision), precision, python, out / "hf")
    finally:
        if not keep_hf:
            shutil.rmtree(source, ignore_errors=True)
    click.echo(
        f"{name}: {done.folder} ({done.bytes / 1e6:.1f} MB, export {done.seconds} s, peak {done.peak_rss_bytes / GB:.2f} GB)"
    )
    return {
        "folder": done.folder.name,
        "name": name,
        "weights": "random",
        "precision": precision,
        "source_folder": str(source),
        "source": "orchestrator.engines.qwen3asr_weights.write_hf_folder (the chatllm.cpp test models' folder), "
        "prepared by orchestrator.engines.hf_prep.prepared_copy",
        "converter": f"optimum-cli export openvino --task {ov_export.TASK} --weight-format {precision}",
        "converter_python": python,
        "converter_versions": versions,
        "bytes": done.bytes,
        "write_seconds": round(written, 1),
        "export_seconds": done.seconds,
        "export_peak_rss_bytes": done.peak_rss_bytes,
        "spec": asdict(spec),
    }


def find_test_model(name: str, shape: str) -> Path | None:
    """A made model by name (`tiny-asr-a`: its fp32 folder, else any precision of it) or by
    folder (`tiny-asr-a-int8`), from the manifest in the default out folder of `shape`."""
    out = Path(FULL_OUT if shape == "full" else DEFAULT_OUT)
    entries = read_manifest(out / MANIFEST)
    by_name = [e for e in entries.values() if e.get("name") == name]
    by_name.sort(key=lambda e: PRECISIONS.index(e["precision"]) if e.get("precision") in PRECISIONS else 99)
    for entry in ([entries[name]] if name in entries else []) + by_name:
        folder = out / entry.get("folder", "")
        if (folder / "openvino_decoder_model.xml").is_file():
            return folder
    return None


def make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir=None, export_python=None) -> None:
    """`orch make-test-models --runtime openvino` (orchestrator/commands/make_test_models.py):
    folders ASRPipeline loads, exported from the same seeded weights as chatllm.cpp's test
    models; `quant` is optimum-cli's --weight-format (fp32 default; fp16, int8, int4). The
    export runs in `export_python` (or ORCH_EXPORT_PYTHON), not in orch's Python."""
    family, specs = pick(shape, only)
    precision = quant or "fp32"
    if precision not in PRECISIONS:
        raise MakeError(f"--quant {precision}: OpenVINO folders are exported as {', '.join(PRECISIONS)}")
    asr = [s.name for s in specs if not s.aligner]
    skipped = [s.name for s in specs if s.aligner]
    if skipped and only:
        raise MakeError(f"{', '.join(skipped)}: optimum-intel exports no forced aligner, ASRPipeline does not align")
    if skipped:
        click.echo(f"not made: {', '.join(skipped)} (optimum-intel exports no forced aligner)")
    out = Path(out_dir or (FULL_OUT if family == "full" else DEFAULT_OUT))
    for name in asr:
        memory, disk = needs(ALL_SPECS[name], precision)
        click.echo(f"{name} ({precision}): needs about {memory / GB:.1f} GB of memory, {disk / GB:.2f} GB of disk")
    try:
        made = make_openvino_test_models(out, asr, precision, python=export_python, force=force, keep_hf=keep_hf)
    except ExportError as exc:
        raise MakeError(str(exc)) from None
    for m in made:
        click.echo(f"{m.folder}: {'made' if m.made else 'exists (--force remakes it)'}")
    first = next((m.folder for m in made), None)
    if first is not None and first.name.split("-")[0] != "shape" and not set(asr) & set(FULL_SPECS):
        click.echo(f"use: orch compare --engine openvino --model {first} --audio samples/phone-zh.wav")
