"""Where chatllm.cpp's pieces are: --chatllm-dir / CHATLLM_DIR / ./chatllm.cpp, with
--chatllm-main and --chatllm-lib overriding the two built files."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

from orchestrator.engines.chatllm.model_file import ModelFileError, read_meta
from orchestrator.engines.chatllm.options import DEFAULT_DIR


@dataclass
class ChatLLMPaths:
    root: str
    main: str
    lib: str
    bindings: str  # bindings/chatllm.py


def resolve(root: str | None, main: str | None = None, lib: str | None = None) -> ChatLLMPaths:
    root = os.path.abspath(root or os.environ.get("CHATLLM_DIR") or DEFAULT_DIR)
    main = main or next(
        (
            p
            for p in (os.path.join(root, "build", "bin", "main"), os.path.join(root, "build", "main"))
            if os.path.exists(p)
        ),
        os.path.join(root, "build", "bin", "main"),
    )
    lib = lib or next(
        (
            p
            for p in (
                os.path.join(root, "bindings", "libchatllm.so"),
                os.path.join(root, "build", "lib", "libchatllm.so"),
            )
            if os.path.exists(p)
        ),
        os.path.join(root, "bindings", "libchatllm.so"),
    )
    return ChatLLMPaths(
        root=root,
        main=os.path.abspath(main),
        lib=os.path.abspath(lib),
        bindings=os.path.join(root, "bindings", "chatllm.py"),
    )


# the strategies that run chatllm.cpp's command-line program; the others load libchatllm in the worker
PROGRAM_STRATEGIES = ("cli", "cli-interactive")


def needs(strategy: str) -> str:
    """What of chatllm.cpp a strategy needs: "main" (the program) or "libchatllm" (the bindings)."""
    return "main" if strategy in PROGRAM_STRATEGIES else "libchatllm"


BUILD_HINT = (
    "build it outside this repository: cmake -B build && "
    "cmake --build build -j --target main libchatllm (in the chatllm.cpp checkout)"
)


def problems_for(plan) -> list[str]:
    opts = plan.engine_options  # engine_options.ChatLLMOptions, paths resolved
    out = []
    if not os.path.isdir(opts.chatllm_dir):
        # every other piece is still named: all problems at once
        return [f"chatllm.cpp checkout not found at {opts.chatllm_dir}: pass --chatllm-dir or set CHATLLM_DIR"] + (
            run_inputs(plan)
        )
    cli = any(needs(s) == "main" for s in plan.strategies)
    inproc = any(needs(s) == "libchatllm" for s in plan.strategies)
    if cli and not os.access(opts.main or "", os.X_OK):
        out.append(f"chatllm.cpp main not found at {opts.main}: {BUILD_HINT}, or pass --chatllm-main")
    if inproc and not os.path.exists(opts.lib or ""):
        out.append(f"libchatllm.so not found at {opts.lib}: {BUILD_HINT}, or pass --chatllm-lib")
    bindings = os.path.join(opts.chatllm_dir, "bindings", "chatllm.py")
    if inproc and not os.path.exists(bindings):
        out.append(f"chatllm.cpp Python bindings not found at {bindings}: is this a chatllm.cpp checkout?")
    return out + run_inputs(plan)


def run_inputs(plan) -> list[str]:
    """What a chatllm.cpp run takes besides the build: models (each judged by its header),
    the audio, and ffmpeg (chatllm.cpp decodes audio by running it)."""
    out = []
    if not plan.models:
        out.append("no model given: pass --model PATH (e.g. models/qwen3-asr-0.6b-q4_0.bin)")
    for m in plan.models:
        if not os.path.isfile(m):
            out.append(f"model file not found: {m}")
            continue
        try:
            read_meta(m)
        except ModelFileError as exc:
            out.append(str(exc))
    if not plan.audio:
        out.append("no audio given: pass --audio FILE.wav")
    if shutil.which("ffmpeg") is None:
        out.append("ffmpeg not found on PATH: chatllm.cpp decodes audio with it (apt-get install ffmpeg)")
    return out


def checkout_commit(root: str) -> str | None:
    """The checkout's commit (12 digits); in an orch image, which keeps no git metadata, the
    commit its build recorded. Only a checkout's own `.git` (a clone's folder, a worktree's or
    submodule's file) is asked: git run in a folder without one would answer with the commit of
    whatever repository holds that folder, or fail (a folder that does not exist)."""
    from orchestrator.engines.image_identity import commit_for

    if not os.path.exists(os.path.join(root, ".git")):
        return commit_for(root)
    try:
        out = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return commit_for(root)
    return out.stdout.strip() or commit_for(root)
