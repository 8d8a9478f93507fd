"""How the engine picks each next token, as part of the plan: `greedy` (the most likely
token, every time: the same input gives the same text, so a text that changes between
requests is state carried over) or `sampled` (the engine's own sampling: every text may
differ). Measurement runs default to greedy; what each engine is given for it is its registry
entry's (`EngineSpec.decoding_options`), which the worker gets (run/worker_config.py) and the
result's `engine` block records."""

from __future__ import annotations

from typing import Any

DECODINGS = ("greedy", "sampled")
DEFAULT_DECODING = "greedy"


def told(worker_options: dict[str, Any], options: Any) -> str | None:
    """What the engine is told for its decoding beyond its name (`worker_options`, as the
    worker gets them: chatllm.cpp's `--sampling greedy`), shown to the user; None when nothing
    more, or when the engine's own arguments set the sampling (they come last, and win)."""
    extra = [v for k, v in worker_options.items() if k != "decoding"]
    words = [str(a) for v in extra for a in (v if isinstance(v, list) else [v])]
    if not words or overridden(getattr(options, "engine_args", None)):
        return None
    return " ".join(words)


def problem(decoding: Any) -> str | None:
    if decoding not in DECODINGS:
        return f"must be one of {', '.join(DECODINGS)}, not {decoding!r}"
    return None


def overridden(engine_args: list[str] | None) -> str | None:
    """The user's chatllm.cpp argument that sets the sampling itself (it comes last, so it
    wins over --decoding), or None."""
    for arg in engine_args or []:
        if arg in ("--sampling", "-t", "--temp") or arg.startswith(("--sampling=", "--temp=")):
            return arg
    return None
