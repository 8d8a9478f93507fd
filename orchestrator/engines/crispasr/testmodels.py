"""Random-weight test models for the crispasr engine: the very weights of orch's chatllm.cpp test
models (the same seeded HF folder, `write_hf_folder`), made ready for other runtimes' converters
(`hf_prep.prepared_copy`: the folder's own ASR token ids, its added tokens in vocab.json) and
converted to GGUF by CrispASR's own converter, `models/convert-qwen3-asr-to-gguf.py` of a
CrispASR checkout (`--crispasr-src DIR` or CRISPASR_SRC: it is not in the wheel, and stays
outside this repository), run by converter_runner.py in a process of its own.

Precisions: f16 (the converter's own: F16 matrices, F32 norms and biases) and f32 (every
tensor F32). q8_0/q4_0 need CrispASR's C++ crispasr-quantize, which the wheel does not ship:
asked for, they are refused with that said.

Each model goes to OUT/<name>-<precision>.gguf, and OUT/crispasr-models.json says which file
came from which source folder, at which precision, with which converter (its path, version
and commit) and the token ids used. The source folders are written under OUT/hf/ and removed
unless `keep_hf`.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from math import prod
from pathlib import Path

import click

from orchestrator.engines.crispasr import gguf_header
from orchestrator.engines.crispasr.options import NO_QUANTIZER, PRECISIONS, SRC_ENV
from orchestrator.engines.crispasr.runtime import TARGET
from orchestrator.engines.hf_prep import added_tokens, prepared_copy
from orchestrator.engines.qwen3asr_weights import (
    ALL_SPECS,
    MakeError,
    TinySpec,
    conversion_lock,
    disk_free,
    mem_available,
    pick,
    read_manifest,
    weight_shapes,
    write_hf_folder,
)

DEFAULT_OUT = "models/tiny-crispasr"  # git ignores it
FULL_OUT = "models/full-crispasr"
MANIFEST = "crispasr-models.json"
DEFAULT_PRECISION = "f16"
CONVERTER = "models/convert-qwen3-asr-to-gguf.py"  # inside a CrispASR checkout
CONVERT_NEEDS = ("gguf", "safetensors", "torch", "numpy")  # what the converter imports
RUNNER = Path(__file__).with_name("converter_runner.py")
GB = 10**9
HF_EXTRA_BYTES = 12 * 2**20  # the tokenizer files beside the weights
FILE_OVERHEAD = 5 * 2**20  # header, token list, merges, mel filters
# the converter's peak: python + torch (~0.5 GB), gguf's 256 MB in-memory spool, and the
# biggest tensor as torch float32, its cast and (tied embeddings) a copy
CONVERT_BASE = 800 * 10**6
CONVERT_COPIES = 3


@dataclass(frozen=True)
class ConverterSource:
    root: Path
    script: Path
    version: str | None  # the checkout's VERSION file
    commit: str | None  # git HEAD, when it is a git checkout
    describe: str | None  # `git describe --tags --always`


@dataclass(frozen=True)
class MadeModel:
    name: str
    file: Path
    made: bool  # False: it was there already (kept; `force` remakes it)


@dataclass(frozen=True)
class Needs:
    memory: int
    disk: int
    hf_bytes: int
    file_bytes: int


def converter_source(src: str | Path | None) -> ConverterSource:
    """The CrispASR checkout from `--crispasr-src`, else CRISPASR_SRC; MakeError when neither
    names one with the converter in it."""
    given = src or os.environ.get(SRC_ENV)
    if not given:
        raise MakeError(
            f"CrispASR's converter is not in the wheel: pass --crispasr-src DIR or set {SRC_ENV} "
            "(a clone of https://github.com/CrispStrobe/CrispASR)"
        )
    root = Path(given).expanduser().resolve()
    script = root / CONVERTER
    if not script.is_file():
        raise MakeError(f"no {CONVERTER} in {root}: not a CrispASR checkout (--crispasr-src / {SRC_ENV})")
    version_file = root / "VERSION"
    version = version_file.read_text(encoding="utf-8").strip() if version_file.is_file() else None
    return ConverterSource(
        root, script, version, _git(root, "rev-parse", "HEAD"), _git(root, "describe", "--tags", "--always")
    )


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def check_converter_needs() -> None:
    missing = [m for m in CONVERT_NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        raise MakeError(
            f"CrispASR's converter needs {', '.join(missing)} in this Python: pip install -e '.[crispasr,testmodels]' "
            "torch==2.13.0 (a bare `pip install torch` may pull a multi-GB CUDA build)"
        )


def tensor_bytes(name: str, shape: tuple[int, ...], precision: str) -> int:
    """Bytes of one tensor in the GGUF file: F32 for 1-D, norms and biases (the converter's
    is_f32_tensor), else F16, unless every tensor is F32."""
    f32 = precision == "f32" or len(shape) <= 1 or name.endswith(".bias") or "norm" in name or "ln_post" in name
    return prod(shape) * (4 if f32 else 2)


def conversion_needs(spec: TinySpec, precision: str) -> Needs:
    shapes = weight_shapes(spec)
    hf = sum(4 * prod(s) for s in shapes.values()) + HF_EXTRA_BYTES
    out = sum(tensor_bytes(n, s, precision) for n, s in shapes.items()) + FILE_OVERHEAD
    biggest = max(4 * prod(s) for s in shapes.values())
    # gguf's writer spools the tensors to a temporary file before writing the real one
    return Needs(memory=CONVERT_BASE + CONVERT_COPIES * biggest, disk=hf + 2 * out, hf_bytes=hf, file_bytes=out)


def check_resources(names: Sequence[str], out: Path, precision: str, keep_hf: bool) -> None:
    """Said before anything is written; MakeError (exit 2) when memory or disk is short. One
    conversion at a time: memory is the biggest one's."""
    needs = {n: conversion_needs(ALL_SPECS[n], precision) for n in names}
    if not needs:
        return
    for name, n in needs.items():
        click.echo(
            f"{name}: needs about {n.memory / GB:.1f} GB of memory, {n.disk / GB:.1f} GB of disk "
            f"({n.hf_bytes / GB:.2f} GB folder, {n.file_bytes / GB:.2f} GB file)"
        )
    memory = max(n.memory for n in needs.values())
    hf = sum(n.hf_bytes for n in needs.values()) if keep_hf else max(n.hf_bytes for n in needs.values())
    disk = hf + sum(n.file_bytes for n in needs.values()) + max(n.file_bytes for n in needs.values())
    problems = []
    have_mem = mem_available()
    if have_mem is not None and memory > have_mem:
        problems.append(f"needs about {memory / GB:.1f} GB of memory, MemAvailable is {have_mem / GB:.1f} GB")
    have_disk = disk_free(out)
    if disk > have_disk:
        problems.append(f"needs about {disk / GB:.1f} GB of disk under {out}, {have_disk / GB:.1f} GB free")
    if problems:
        raise MakeError("not converting: " + "; ".join(problems))


def file_name(name: str, precision: str) -> str:
    return f"{name}-{precision}.gguf"


def make_crispasr_test_models(
    out_dir: Path | str = DEFAULT_OUT,
    names: Sequence[str] = ("tiny-asr-a",),
    precision: str = DEFAULT_PRECISION,
    force: bool = False,
    keep_hf: bool = False,
    crispasr_src: str | Path | None = None,
) -> list[MadeModel]:
    """Make (or keep) the named models under `out_dir` and update its manifest. MakeError
    (exit 2) for an unknown name or precision, no converter, too little memory or disk,
    before anything is written, or a conversion that fails."""
    unknown = [n for n in names if n not in ALL_SPECS]
    if unknown:
        raise MakeError(f"unknown test model {', '.join(unknown)}: choose from {', '.join(ALL_SPECS)}")
    aligners = [n for n in names if ALL_SPECS[n].aligner]
    if aligners:
        raise MakeError(f"{', '.join(aligners)}: CrispASR's converter makes Qwen3-ASR files, not the forced aligner")
    if precision not in PRECISIONS:
        raise MakeError(f"precision {precision!r}: CrispASR's converter writes {', '.join(PRECISIONS)}; {NO_QUANTIZER}")
    source = converter_source(crispasr_src)
    check_converter_needs()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [n for n in dict.fromkeys(names) if force or not (out / file_name(n, precision)).exists()]
    lock = conversion_lock() if any(ALL_SPECS[n].shape == "full" for n in todo) else None
    manifest_path = out / MANIFEST
    made = []
    try:
        check_resources(todo, out, precision, keep_hf)
        entries = read_manifest(manifest_path)
        for name in dict.fromkeys(names):
            target = out / file_name(name, precision)
            if name not in todo:
                made.append(MadeModel(name, target, made=False))
                continue
            entries[target.stem] = _make_one(ALL_SPECS[name], out, precision, source, keep_hf)
            made.append(MadeModel(name, target, made=True))
            # written after every model: one made before a failure is not left out
            manifest_path.write_text(json.dumps({"models": entries}, indent=1) + "\n", encoding="utf-8")
    finally:
        if lock is not None:
            lock.release()
        if not keep_hf:
            shutil.rmtree(out / "hf", ignore_errors=True)
    return made


def _make_one(spec: TinySpec, out: Path, precision: str, source: ConverterSource, keep_hf: bool) -> dict:
    """Write one model's source folder, prepare it, convert it; its manifest entry."""
    target = out / file_name(spec.name, precision)
    hf = out / "hf" / spec.name
    click.echo(f"{spec.name}: writing {hf} ...")
    started = time.monotonic()
    write_hf_folder(spec, hf)
    prepared = prepared_copy(hf, out / "hf" / f"{spec.name}-prepared")
    written = time.monotonic() - started
    click.echo(f"{spec.name}: converting with {source.script} ({precision}) ...")
    stats = convert(source.script, prepared, target, spec, precision)
    tokens = added_tokens(hf)
    if not keep_hf:
        shutil.rmtree(prepared, ignore_errors=True)
        shutil.rmtree(hf, ignore_errors=True)
    click.echo(
        f"{spec.name}: {target} ({target.stat().st_size:,} bytes, convert {stats['convert_seconds']} s, "
        f"peak {stats['convert_peak_rss_bytes'] / GB:.2f} GB)"
    )
    return {
        "name": spec.name,
        "file": target.name,
        "bytes": target.stat().st_size,
        "precision": precision,
        "weights": "random",
        "shape": spec.shape,
        "mimics": spec.mimics or None,
        "params": spec.params,
        "source_folder": str(hf),
        "source": "orchestrator.engines.qwen3asr_weights.write_hf_folder (the chatllm.cpp test models' folder), "
        "prepared by orchestrator.engines.hf_prep.prepared_copy",
        "token_ids": {t: tokens[t] for t in ("<|audio_start|>", "<|audio_end|>", "<|audio_pad|>", "<asr_text>")},
        "converter": str(source.script),
        "converter_version": source.version,
        "converter_commit": source.commit,
        "converter_describe": source.describe,
        "for_crispasr": TARGET,
        "write_seconds": round(written, 1),
        **stats,
        "spec": asdict(spec),
    }


def convert(script: Path, src: Path, target: Path, spec: TinySpec, precision: str) -> dict:
    """Run the converter (through converter_runner.py); its wall time and peak RSS (its own
    rusage). MakeError with the end of its output when it fails or writes no Qwen3-ASR file."""
    kind = "test model, random weights" + (", full shape" if spec.shape == "full" else "")
    partial = target.with_name(target.name + ".part")  # only a whole file gets the model's name
    cmd = [
        sys.executable,
        str(RUNNER),
        str(script),
        str(src.resolve()),
        str(partial.resolve()),
        precision,
        kind,
        spec.name,
    ]
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log_f:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: no half-written model is left behind
            proc.kill()
            proc.wait()
            partial.unlink(missing_ok=True)
            raise
        code = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        log_f.seek(0)
        log = log_f.read().strip()
    problem = (
        f"exit {code}" if code != 0 else gguf_header.model_problem(str(partial)) if partial.exists() else "no file"
    )
    if problem:
        partial.unlink(missing_ok=True)
        raise MakeError(f"CrispASR's converter failed for {spec.name} ({problem}):\n{log[-1500:]}")
    partial.replace(target)
    return {"convert_seconds": round(seconds, 1), "convert_peak_rss_bytes": usage.ru_maxrss * 1024}


def find_test_model(name: str, shape: str, precision: str | None = None) -> Path | None:
    """The GGUF file of test model `name` made in the default folder of `shape` (tiny / full),
    found by the manifest: `precision` if given, else f16 if made, else any; None when none is."""
    out = Path(FULL_OUT if shape == "full" else DEFAULT_OUT)
    entries = [e for e in read_manifest(out / MANIFEST).values() if isinstance(e, dict) and e.get("name") == name]
    order = [precision] if precision else [DEFAULT_PRECISION, *[p for p in PRECISIONS if p != DEFAULT_PRECISION]]
    for p in order:
        for entry in entries:
            path = out / str(entry.get("file"))
            if entry.get("precision") == p and path.is_file():
                return path
    return None


def make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir, crispasr_src=None) -> None:
    """`orch make-test-models --runtime crispasr` (orchestrator/commands/make_test_models.py):
    GGUF files CrispASR loads, from the same seeded weights as chatllm.cpp's test models;
    `quant` is the precision (f16 default, f32). Needs a CrispASR checkout for its converter."""
    family, specs = pick(shape, only)
    precision = quant or DEFAULT_PRECISION
    if precision not in PRECISIONS:
        raise MakeError(f"--quant {precision}: crispasr files are {', '.join(PRECISIONS)} here; {NO_QUANTIZER}")
    out = Path(out_dir or (FULL_OUT if family == "full" else DEFAULT_OUT))
    names = [s.name for s in specs if not s.aligner] if not only else [s.name for s in specs]
    made = make_crispasr_test_models(out, names, precision, force=force, keep_hf=keep_hf, crispasr_src=crispasr_src)
    for m in made:
        click.echo(f"{m.file}: {'made' if m.made else 'exists (--force remakes it)'}")
    asr = next((m.file for m in made), None)
    if asr is not None and family != "full":
        click.echo(f"use: orch compare --all --engine crispasr --model {asr} --audio samples/phone-zh.wav")
