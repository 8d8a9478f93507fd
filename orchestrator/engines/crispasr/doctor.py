"""The crispasr engine's rows in `orch doctor`: the wheel in the Python the workers run with
(version from metadata, nothing imported), what it does not ship (a command-line program, a
quantizer), the converter's checkout and its needs, orch's test models, and the model files
given. `blocking`: the run being checked uses this engine."""

from __future__ import annotations

import importlib.util
import os

from orchestrator.engines.crispasr import gguf_header, runtime
from orchestrator.engines.crispasr.options import INSTALL, NO_QUANTIZER, SRC_ENV
from orchestrator.engines.crispasr.testmodels import CONVERT_NEEDS, CONVERTER, DEFAULT_OUT, find_test_model


def checks(add, options: dict, strategies: list[str], models: list[str], blocking: bool) -> None:
    version = runtime.version()
    detail = f"{version} (measured with {runtime.TARGET})" if version else "not installed"
    add("crispasr", version is not None, detail, INSTALL if version is None else "", blocking=blocking)
    # not needed for a run: said so that nobody looks for q8_0/q4_0 test models
    add("crispasr quantizer", False, f"not in the wheel: test models are f16 or f32; {NO_QUANTIZER}", blocking=False)
    src = os.environ.get(SRC_ENV)
    have_src = bool(src) and os.path.isfile(os.path.join(src or "", CONVERTER))
    add(
        f"{SRC_ENV} (converter)",
        have_src,
        f"{src}/{CONVERTER}" if have_src else (f"{src}: no {CONVERTER}" if src else "not set"),
        "git clone https://github.com/CrispStrobe/CrispASR and set CRISPASR_SRC (or make-test-models --crispasr-src)",
        blocking=False,
    )
    missing = [m for m in CONVERT_NEEDS if importlib.util.find_spec(m) is None]
    add(
        "converter's Python packages",
        not missing,
        f"{', '.join(missing)} missing" if missing else ", ".join(CONVERT_NEEDS),
        "pip install -e '.[crispasr,testmodels]' torch==2.13.0",
        blocking=False,
    )
    made = find_test_model("tiny-asr-a", "tiny")
    add(
        f"{DEFAULT_OUT}/ (test models)",
        made is not None,
        str(made) if made else "not present",
        "orch make-test-models --runtime crispasr --crispasr-src DIR",
        blocking=False,
    )
    for m in models:
        try:
            keys = gguf_header.read_keys(m)
        except gguf_header.GGUFError as exc:
            add(f"model {m}", False, str(exc), blocking=blocking)
            continue
        problem = gguf_header.model_problem(m, keys)
        kind = gguf_header.random_model_kind(keys) or "Qwen3-ASR GGUF"
        add(f"model {m}", problem is None, problem or f"{keys.get(gguf_header.ARCH_KEY)} ({kind})", blocking=blocking)
