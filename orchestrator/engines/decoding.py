"""How the engine picks each next token, as part of the plan: `greedy` (the most likely
token, every time: the same input gives the same text, so a text that changes between
requests is state carried over) or `sampled` (the engine's own sampling: every text may
differ). Measurement runs default to greedy; this module says what each engine is given
for it, which the worker gets and the result's `engine` block records."""

from __future__ import annotations

from typing import Any

DECODINGS = ("greedy", "sampled")
DEFAULT_DECODING = "greedy"

# chatllm.cpp's main and bindings parse the same arguments: `--sampling greedy` (src/main.cpp);
# sampled gives nothing, so the engine samples as it does by default (top_p)
CHATLLM_ARGS = {"greedy": ["--sampling", "greedy"], "sampled": []}


def worker_options(engine: str, decoding: str) -> dict[str, Any]:
    """What the engine's worker is given for `decoding`, beside its other options: the
    calibration engine reads `decoding` itself; chatllm.cpp gets `decoding_args` on its
    command line, before the user's --engine-arg (which come last, and so win)."""
    if engine == "chatllm":
        return {"decoding": decoding, "decoding_args": list(CHATLLM_ARGS.get(decoding, []))}
    return {"decoding": decoding}


def engine_block(plan) -> dict[str, Any]:
    """The result's `engine` block: the engine's name, its options and its decoding, as given."""
    return {"name": plan.engine, **plan.engine_options.describe(), **worker_options(plan.engine, plan.decoding)}


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
