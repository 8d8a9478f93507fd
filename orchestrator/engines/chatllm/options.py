"""chatllm.cpp's options: declared here once, with their defaults (fields.py). The plan
resolves the paths (paths.resolve) and sets commit, aligner and language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.engines import fields
from orchestrator.engines.fields import option

# what the worker gets per decoding (its registry entry's `decoding_options`): chatllm.cpp's
# main and bindings parse the same arguments, `--sampling greedy` (src/main.cpp); sampled
# gives nothing, so the engine samples as it does by default (top_p)
DECODING_OPTIONS: dict[str, dict[str, Any]] = {
    "greedy": {"decoding_args": ["--sampling", "greedy"]},
    "sampled": {"decoding_args": []},
}
DEFAULT_DIR = "./chatllm.cpp"  # where the checkout is when neither --chatllm-dir nor CHATLLM_DIR says


@dataclass(frozen=True)
class ChatLLMOptions:
    """chatllm.cpp: where its pieces are and what to pass it."""

    chatllm_dir: str = option(
        "path",
        default=DEFAULT_DIR,
        field_default=DEFAULT_DIR,
        flag="--chatllm-dir",
        click={"envvar": "CHATLLM_DIR", "default": DEFAULT_DIR, "show_default": True},
        help="chatllm.cpp checkout (env CHATLLM_DIR).",
    )
    main: str | None = option("path", flag="--chatllm-main", help="chatllm.cpp `main` (default: <dir>/build/bin/main).")
    lib: str | None = option(
        "path", flag="--chatllm-lib", help="libchatllm.so (default: <dir>/bindings/libchatllm.so)."
    )
    commit: str | None = option("text", settable=False)
    aligner: bool = option("flag", default=False, field_default=False, settable=False)
    language: str | None = option("text", settable=False)
    threads: int | None = option("integer", low=1, flag="--threads", help="chatllm: threads (-n).")
    ctx: int | None = option("integer", low=1, flag="--ctx", help="chatllm: context length (-c).")
    max_new_tokens: int | None = option(
        "integer", low=1, flag="--max-new-tokens", help="chatllm: bound on the output length."
    )
    # glibc malloc_trim(0) after every unload: tells a leak from allocator retention
    trim_after_unload: bool | None = option(
        "flag",
        flag="--trim-after-unload",
        click={"is_flag": True},
        help="The worker calls glibc malloc_trim(0) after every unload (leak vs allocator retention).",
    )
    # TTFT by phase (a stamping ffmpeg on PATH, the bindings' statistics)
    ttft_phases: bool | None = option(
        "flag",
        default=True,
        flag="--no-ttft-phases",
        param="ttft_phases",
        click={"flag_value": False},
        help="chatllm: do not break TTFT into phases (no stamping ffmpeg, no statistics call).",
    )
    engine_args: list[str] = option(
        "args",
        flag="--engine-arg",
        param="engine_args",
        help="chatllm: extra argument passed through (repeatable), e.g. --engine-arg=--seed --engine-arg=1.",
    )

    engine = "chatllm"

    def problems(self) -> list[str]:
        return fields.problems(self)

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)


def chatllm_dir_option(help: str, **overrides: Any) -> Callable:
    """--chatllm-dir as every command declares it (env CHATLLM_DIR, default ./chatllm.cpp),
    with the command's own help ("": none)."""
    meta = dict(fields.metas(ChatLLMOptions))["chatllm_dir"]
    return fields.click_option(meta, help=help, **overrides)
