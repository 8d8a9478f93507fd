"""What stops a crispasr run before a worker starts: the wheel missing from the Python the
workers run with, a model that is not a Qwen3-ASR GGUF file (by its header), a scenario this
engine does not run (the forced aligner), no audio."""

from __future__ import annotations

from orchestrator.engines.crispasr import gguf_header, runtime


def problems_for(plan) -> list[str]:
    out = runtime.problems()
    if plan.scenario == "align":
        out.append("the crispasr engine runs Qwen3-ASR only: its session has no Qwen3-ForcedAligner (--scenario align)")
    if not plan.models:
        out.append("no model given: pass --model FILE.gguf (e.g. models/tiny-crispasr/tiny-asr-a-f16.gguf)")
    for m in plan.models:
        problem = gguf_header.model_problem(m)
        if problem:
            out.append(problem)
    if not plan.audio:
        out.append("no audio given: pass --audio FILE.wav")
    return out
