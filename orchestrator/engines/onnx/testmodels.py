"""Random-weight test models for the onnx engine: the very weights of orch's other engines'
test models (the same seeded HF folder, `write_hf_folder`), prepared (`hf_prep.prepared_copy`:
the folder's own ASR token ids) and exported to ONNX by the public exporter (export.py) in
its own Python. The forced aligner is not made: sherpa-onnx's Qwen3-ASR recognizer has no
aligner, and the exporter exports the ASR model only.

Each model goes to OUT/<name>/: conv_frontend.onnx, encoder/decoder.onnx (+ .data) at fp32,
encoder/decoder.int8.onnx, the tokenizer files and the source's config.json (its test-model
mark); OUT/onnx-models.json says which files came from which source folder, by which exporter
(repository, commit, its Python's packages), at which precisions. The source folders are
written under OUT/hf/<name> (and OUT/hf/<name>-prepared) and removed unless `keep_hf`.
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

from orchestrator.engines.hf_prep import prepared_copy
from orchestrator.engines.onnx import export
from orchestrator.engines.onnx.model_folder import TOKENIZER_FILES, available_precisions
from orchestrator.engines.onnx.options import MAX_TOTAL_LEN, PRECISIONS
from orchestrator.engines.qwen3asr_weights import (
    ALL_SPECS,
    MakeError,
    disk_free,
    mem_available,
    pick,
    read_manifest,
    weight_shapes,
    write_hf_folder,
)

DEFAULT_OUT = "models/tiny-onnx"  # git ignores it
FULL_OUT = "models/full-onnx"
MANIFEST = "onnx-models.json"
GB = 1e9
HF_EXTRA_BYTES = 12 * 2**20  # the tokenizer files beside the weights
# the export holds the float32 model in torch, its traced graph and the ONNX protobuf at once,
# then onnxruntime's quantizer loads the fp32 graph again; plus torch's and qwen-asr's imports
EXPORT_COPIES = 3
EXPORT_BASE = 1.5 * 2**30


# what the exporter leaves that sherpa-onnx loads; anything else in its out folder is left over
GRAPH_FILES = (
    "conv_frontend.onnx",
    "encoder.onnx",
    "encoder.onnx.data",
    "decoder.onnx",
    "decoder.onnx.data",
    "encoder.int8.onnx",
    "decoder.int8.onnx",
)


@dataclass(frozen=True)
class MadeModel:
    name: str
    folder: Path
    made: bool  # False: it was there already (kept; `force` remakes it)


@dataclass(frozen=True)
class Needs:
    memory: int
    disk: int


def _params(name: str) -> int:
    return sum(prod(s) for s in weight_shapes(ALL_SPECS[name]).values())


def export_needs(name: str, precisions: Sequence[str]) -> Needs:
    """About what one export takes: memory for the float32 model several times over; disk for
    the float32 source folder, the fp32 graphs (the same bytes) and the int8 ones (the
    embedding stays float32: MatMul only is quantized; a quarter of fp32 or more)."""
    f32 = 4 * _params(name)
    disk = f32 + HF_EXTRA_BYTES + (f32 if "fp32" in precisions else 0) + (f32 // 2 if "int8" in precisions else 0)
    return Needs(memory=int(EXPORT_BASE + EXPORT_COPIES * f32), disk=disk + f32)  # + the fp32 made before int8


def check_resources(names: Sequence[str], out: Path, precisions: Sequence[str]) -> None:
    """MakeError (exit 2) before anything starts when memory or disk is short (one export at a time)."""
    if not names:
        return
    needs = {n: export_needs(n, precisions) for n in names}
    for name, n in needs.items():
        click.echo(f"{name}: needs about {n.memory / GB:.1f} GB of memory, {n.disk / GB:.1f} GB of disk")
    memory, disk = max(n.memory for n in needs.values()), sum(n.disk for n in needs.values())
    have_mem, have_disk = mem_available(), disk_free(out)
    problems = []
    if have_mem is not None and memory > have_mem:
        problems.append(f"needs about {memory / GB:.1f} GB of memory, MemAvailable is {have_mem / GB:.1f} GB")
    if disk > have_disk:
        problems.append(f"needs about {disk / GB:.1f} GB of disk under {out}, {have_disk / GB:.1f} GB free")
    if problems:
        raise MakeError("not exporting: " + "; ".join(problems))


def make_onnx_test_models(
    exporter: export.Exporter,
    out_dir: Path | str = DEFAULT_OUT,
    names: Sequence[str] = ("tiny-asr-a", "tiny-asr-b"),
    precisions: Sequence[str] = PRECISIONS,
    force: bool = False,
    keep_hf: bool = False,
) -> list[MadeModel]:
    """Make (or keep) the named models under `out_dir` and update its manifest."""
    unknown = [n for n in names if n not in ALL_SPECS]
    if unknown:
        raise MakeError(f"unknown test model {', '.join(unknown)}: choose from {', '.join(ALL_SPECS)}")
    aligners = [n for n in names if ALL_SPECS[n].aligner]
    if aligners:
        raise MakeError(f"{', '.join(aligners)}: sherpa-onnx's Qwen3-ASR recognizer has no forced aligner")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [n for n in dict.fromkeys(names) if force or set(precisions) - set(available_precisions(out / n))]
    check_resources(todo, out, precisions)
    manifest_path = out / MANIFEST
    entries = read_manifest(manifest_path)
    made = []
    try:
        for name in dict.fromkeys(names):
            if name not in todo:
                made.append(MadeModel(name, out / name, made=False))
                continue
            entries[name] = _make_one(exporter, name, out, precisions)
            made.append(MadeModel(name, out / name, made=True))
            # written after every model: one made before a failure is not left out
            manifest_path.write_text(json.dumps({"models": entries}, indent=1) + "\n", encoding="utf-8")
    finally:
        if not keep_hf:
            shutil.rmtree(out / "hf", ignore_errors=True)
    return made


def _make_one(exporter: export.Exporter, name: str, out: Path, precisions: Sequence[str]) -> dict:
    """Write one model's source folder, prepare it, export it; its manifest entry."""
    spec = ALL_SPECS[name]
    source = out / "hf" / name
    prepared = out / "hf" / f"{name}-prepared"
    folder = out / name
    started = time.monotonic()
    write_hf_folder(spec, source)
    prepared_copy(source, prepared)
    written = time.monotonic() - started
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    log = out / f"{name}.export.log"
    export.run_export(exporter, prepared, folder, MAX_TOTAL_LEN, "int8" in precisions, log)
    leftovers = drop_leftovers(folder)
    if "fp32" not in precisions:  # the exporter always writes fp32 (int8 is made from it)
        for f in ("encoder.onnx", "encoder.onnx.data", "decoder.onnx", "decoder.onnx.data"):
            (folder / f).unlink(missing_ok=True)
    for f in (*TOKENIZER_FILES, "config.json"):
        shutil.copy(prepared / f, folder / f)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {
        "folder": name,
        "weights": "random",
        "source_folder": str(source),
        "source": "orchestrator.engines.qwen3asr_weights.write_hf_folder (the chatllm.cpp test models' folder), "
        "prepared by orchestrator.engines.hf_prep.prepared_copy",
        "converter": f"{export.EXPORTER_REPO} {export.EXPORTER_SCRIPT}",
        "converter_commit": exporter.commit,
        "converter_python": exporter.python,
        "converter_packages": exporter.packages,
        "max_total_len": MAX_TOTAL_LEN,
        "precisions": [p for p in PRECISIONS if p in precisions],
        "files": [{"name": p.name, "bytes": p.stat().st_size} for p in files],
        "export_log": str(log),
        "leftovers_removed": leftovers,
        # the exporter's own check of each graph against torch ("[verify] encoder max_diff=0.000000 ...")
        "verify": [
            ln.strip()
            for ln in log.read_text(encoding="utf-8", errors="replace").splitlines()
            if ln.startswith("[verify]")
        ],
        "write_seconds": round(written, 1),
        "export_seconds": round(time.monotonic() - started - written, 1),
        "spec": asdict(spec),
    }


def drop_leftovers(folder: Path) -> dict:
    """Remove what the exporter leaves beside its graphs: past 2 GB, torch's TorchScript export
    writes the raw decoder's tensors as one file each (`onnx__MatMul_*`, the embedding), which
    the exporter then packs into decoder.onnx.data and never deletes (GBs at full shape; no
    graph refers to them). {"files": n, "bytes": b} removed."""
    count = size = 0
    for p in folder.iterdir():
        if p.is_file() and p.name not in GRAPH_FILES:
            count, size = count + 1, size + p.stat().st_size
            p.unlink()
    return {"files": count, "bytes": size}


def find_test_model(name: str, shape: str) -> Path | None:
    """The folder (absolute) of test model `name` made in the default out folder for `shape`
    (tiny | full, under the current folder), found by its manifest; None when it was not made
    (or its files are gone)."""
    out = Path(FULL_OUT if shape == "full" else DEFAULT_OUT)
    entry = read_manifest(out / MANIFEST).get(name)
    if not entry:
        return None
    folder = (out / entry.get("folder", name)).resolve()
    return folder if available_precisions(folder) else None


def make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir, onnx_exporter=None, export_python=None) -> None:
    """`orch make-test-models --runtime onnx` (orchestrator/commands/make_test_models.py): the
    ASR models as ONNX files for sherpa-onnx, from the same seeded weights as every other
    engine's; `quant` keeps one precision (fp32 or int8; default both, as the exporter writes)."""
    family, specs = pick(shape, only)
    if quant is not None and quant not in PRECISIONS:
        raise MakeError(f"--quant {quant}: the ONNX exporter writes {', '.join(PRECISIONS)}")
    precisions = [quant] if quant else list(PRECISIONS)
    specs = [s for s in specs if not (s.aligner and not only)]  # the whole family: the ASR models only
    exporter = export.find_exporter(onnx_exporter, export_python)
    for problem in export.package_problems(exporter.packages):
        click.echo(f"note: export Python {exporter.python}: {problem}")
    out = Path(out_dir or (FULL_OUT if family == "full" else DEFAULT_OUT))
    names = [s.name for s in specs]
    click.echo(f"making {', '.join(names)} ({', '.join(precisions)}) under {out} with {exporter.folder}")
    made = make_onnx_test_models(exporter, out, names, precisions, force=force, keep_hf=keep_hf)
    for m in made:
        click.echo(f"{m.folder}: {'made' if m.made else 'exists (--force remakes it)'}")
    asr = next((m.folder for m in made), None)
    if asr is not None and family == "tiny":
        click.echo(f"use: orch compare --all --engine onnx --model {asr} --audio samples/phone-zh.wav")
