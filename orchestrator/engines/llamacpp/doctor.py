"""The llamacpp engine's rows in `orch doctor`: llama-server, llama-mtmd-cli and llama-quantize
(where, which build), the converter's tree and its Python packages, orch's test models, and the
model files given. `blocking`: the run being checked uses this engine."""

from __future__ import annotations

import importlib.util

from orchestrator.engines.llamacpp import gguf_files, programs
from orchestrator.engines.llamacpp.options import CONVERT_INSTALL, INSTALL, SRC_ENV, TARGET_BUILD
from orchestrator.engines.llamacpp.testmodels import CONVERT_NEEDS, DEFAULT_OUT, converter_script, find_test_model
from orchestrator.engines.qwen3asr_weights import MakeError


def checks(add, options: dict, strategies: list[str], models: list[str], blocking: bool) -> None:
    bin_dir = options.get("bin_dir")
    wanted = {programs.SERVER: any(s != "cli" for s in strategies) or not strategies, programs.CLI: "cli" in strategies}
    for program, needed in wanted.items():
        path = programs.find(program, bin_dir)
        detail = (
            f"{path} ({programs.build_of(path).describe()}; measured with b{TARGET_BUILD})" if path else "not found"
        )
        add(program, path is not None, detail, INSTALL if path is None else "", blocking=blocking and needed)
    quantize = programs.find(programs.QUANTIZE, bin_dir)
    add(
        programs.QUANTIZE,
        quantize is not None,
        str(quantize) if quantize else f"not found: test models f16 only (make-test-models --quant f16); {INSTALL}",
        blocking=False,
    )
    _converter_rows(add)
    made = find_test_model("tiny-asr-a", "tiny")
    add(
        f"{DEFAULT_OUT}/ (test models)",
        made is not None,
        str(made) if made else "not present",
        "orch make-test-models --runtime llamacpp",
        blocking=False,
    )
    for m in models:
        problem = gguf_files.text_problem(m)
        kind = gguf_files.random_model_kind(m) or "Qwen3-ASR text GGUF"
        add(f"model {m}", problem is None, problem or f"{gguf_files.TEXT_ARCH} ({kind})", blocking=blocking)


def _converter_rows(add) -> None:
    try:
        script = converter_script()
        have, detail = True, str(script)
    except MakeError as exc:  # said, not raised: doctor reports, never stops
        have, detail = False, str(exc)
    add(f"{SRC_ENV} (converter)", have, detail, blocking=False)
    missing = [m for m in CONVERT_NEEDS if importlib.util.find_spec(m) is None]
    add(
        "llama.cpp converter's Python packages",
        not missing,
        f"{', '.join(missing)} missing" if missing else ", ".join(CONVERT_NEEDS),
        CONVERT_INSTALL,
        blocking=False,
    )
