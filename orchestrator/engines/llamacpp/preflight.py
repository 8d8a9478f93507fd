"""What stops a llamacpp run before a worker starts: no llama-server (or no llama-mtmd-cli for
`cli`), a model that is not Qwen3-ASR's text GGUF or an audio encoder that is not its mmproj
(by their headers), a scenario this engine does not run (the forced aligner, model switching
for the server strategies is the strategy's own rule), no audio."""

from __future__ import annotations

from orchestrator.engines.llamacpp import gguf_files, programs
from orchestrator.engines.llamacpp.options import INSTALL


def problems_for(plan) -> list[str]:
    opts = plan.engine_options
    out = []
    needs = {programs.SERVER: opts.server} if any(s != "cli" for s in plan.strategies) else {}
    if "cli" in plan.strategies:
        needs[programs.CLI] = opts.cli
    for program, found in needs.items():
        if not found:
            out.append(f"no {program} in {programs.which(opts.bin_dir)}: {INSTALL}")
    if plan.scenario == "align":
        out.append("the llamacpp engine runs Qwen3-ASR only: llama.cpp has no Qwen3-ForcedAligner (--scenario align)")
    if not plan.models:
        out.append(
            "no model given: pass --model FILE.gguf (e.g. models/tiny-llamacpp/tiny-asr-a-f16.gguf; "
            "orch make-test-models --runtime llamacpp)"
        )
    for m in plan.models:
        problem = gguf_files.text_problem(m)
        if problem:
            out.append(problem)
    if plan.models and not opts.mmproj:
        out.append(f"no audio encoder for {plan.models[0]}: pass --mmproj FILE.gguf (convert_hf_to_gguf.py --mmproj)")
    elif opts.mmproj:
        problem = gguf_files.mmproj_problem(opts.mmproj)
        if problem:
            out.append(problem)
    if not plan.audio:
        out.append("no audio given: pass --audio FILE.wav")
    return out
