"""chatllm.cpp's rows in `orch doctor`: the checkout and the pieces of it the strategies
use, its debug info, ffmpeg, and the models (expected, test and given). `blocking`: the
run being checked uses this engine, so a missing piece stops it."""

from __future__ import annotations

import os
import shutil

from orchestrator.engines.chatllm.model_file import ModelFileError, random_model_kind, read_meta
from orchestrator.engines.chatllm.paths import BUILD_HINT, checkout_commit, needs, resolve
from orchestrator.engines.chatllm.testmodels import DEFAULT_OUT as TINY_DIR
from orchestrator.engines.qwen3asr_weights import SPECS

MODELS_DIR = "models"
EXPECTED_MODELS = ("qwen3-asr-0.6b-q4_0.bin", "qwen3-asr-1.7b-q4_0.bin", "qwen3-forced-aligner-0.6b-q4_0.bin")


def checks(add, options: dict, strategies: list[str], models: list[str], blocking: bool) -> None:
    paths = resolve(options.get("chatllm_dir"), options.get("main"), options.get("lib"))
    _chatllm_checks(add, paths, strategies, blocking)
    if os.path.exists(paths.lib):
        _debug_info_check(add, paths.lib)
    ffmpeg = shutil.which("ffmpeg")
    add(
        "ffmpeg",
        bool(ffmpeg),
        ffmpeg or "not on PATH",
        "apt-get install ffmpeg (chatllm.cpp decodes audio with it)",
        blocking=blocking,
    )
    _model_checks(add, models, blocking)


def _chatllm_checks(add, paths, strategies: list[str], needs_chatllm: bool) -> None:
    """The chatllm.cpp checkout and the pieces of it the strategies use: main for those that
    run a program, libchatllm and its Python bindings for in-process ones."""
    have_dir = os.path.isdir(paths.root)
    add(
        "chatllm.cpp checkout",
        have_dir,
        paths.root if have_dir else f"not found at {paths.root}",
        "pass --chatllm-dir or set CHATLLM_DIR",
        blocking=needs_chatllm,
    )
    if have_dir:
        add("chatllm.cpp commit", True, checkout_commit(paths.root) or "unknown (no git metadata)")
        _build_checks(add, paths)
    cli = any(needs(s) == "main" for s in strategies)
    inproc = any(needs(s) == "libchatllm" for s in strategies)
    add("main", os.access(paths.main, os.X_OK), paths.main, BUILD_HINT, blocking=needs_chatllm and cli)
    add("libchatllm", os.path.exists(paths.lib), paths.lib, BUILD_HINT, blocking=needs_chatllm and inproc)
    add(
        "bindings/chatllm.py",
        os.path.exists(paths.bindings),
        paths.bindings,
        "use a complete chatllm.cpp checkout",
        blocking=needs_chatllm and inproc,
    )
    scripts = os.path.join(paths.root, "scripts", "model_downloader.py")
    add(
        "scripts/model_downloader.py",
        os.path.exists(scripts),
        scripts,
        "the bindings import it; use a complete checkout",
        blocking=needs_chatllm and inproc,
    )


def _build_checks(add, paths) -> None:
    """The build's CMake flags, and the image orch runs in (if any): what a figure was made with."""
    from orchestrator.engines import image_identity
    from orchestrator.engines.chatllm.build import build_flags, cache_path, read_cache

    cache = cache_path(paths.root, paths.main)
    try:
        flags = build_flags(read_cache(cache)) if cache else None
    except OSError as exc:
        cache, flags = None, f"flags unknown: cannot read {exc.filename}: {exc.strerror}"
    add("chatllm.cpp build", cache is not None, flags or "flags unknown: no build/CMakeCache.txt", blocking=False)
    try:
        identity = image_identity.current()
    except image_identity.ImageIdentityError as exc:
        add("container image", False, str(exc), blocking=False)
        return
    if identity:
        add("container image", True, identity.summary(), blocking=False)


def _debug_info_check(add, lib: str) -> None:
    """Which of libchatllm and its ggml libraries carry DWARF (attribution names lines with it)."""
    from orchestrator.engines.chatllm.elfdebug import DEBUG_BUILD_HINT, ggml_libraries, has_debug_info

    libs = [lib, *map(str, ggml_libraries(lib))]
    with_debug = [os.path.basename(p) for p in libs if has_debug_info(p)]
    without = [os.path.basename(p) for p in libs if not has_debug_info(p)]
    add(
        "debug info (attribution)",
        not without,
        (f"DWARF in {', '.join(with_debug)}" if with_debug else "no DWARF")
        + (f"; none in {', '.join(without)}" if without else "")
        + " (a library with DWARF may still lack it for some files: ggml's C files show no line)",
        DEBUG_BUILD_HINT,
        blocking=False,
    )


def _model_checks(add, models: list[str], needs_chatllm: bool) -> None:
    """The expected models in models/, the tiny test models, and the model files the run loads."""
    for name in EXPECTED_MODELS:
        path = os.path.join(MODELS_DIR, name)
        if os.path.isfile(path):
            add(f"models/{name}", *_model_state(path), blocking=False)
        else:
            add(
                f"models/{name}",
                False,
                "not present",
                "download it into models/ (or pass --model PATH)",
                blocking=False,
            )
    tiny = [os.path.join(TINY_DIR, f"{n}.bin") for n in SPECS]
    have = [p for p in tiny if os.path.isfile(p)]
    add(
        f"{TINY_DIR}/ (test models)",
        len(have) == len(tiny),
        f"{len(have)} of {len(tiny)} present" if have else "not present",
        "orch make-test-models (tiny random-weight models for trying the engine)",
        blocking=False,
    )
    for m in models:
        if os.path.isfile(m):
            add(f"model {m}", *_model_state(m), blocking=needs_chatllm)
        else:
            add(f"model {m}", False, m, "file not found", blocking=needs_chatllm)


def _model_state(path: str) -> tuple[bool, str, str]:
    """(usable, detail, fix) from the file's header, without loading it."""
    try:
        meta = read_meta(path)
    except ModelFileError as exc:
        return False, str(exc), "download it again"
    kind = random_model_kind(meta) or meta.get("model_name") or "chatllm.cpp model"
    return True, f"{os.path.getsize(path) / 2**20:.0f} MB ({kind})", ""
