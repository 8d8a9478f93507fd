"""The chatllm worker engine with a hand-made config that lacks a path the parent resolves."""

import pytest
from workers.engines.base import EngineError, Request
from workers.engines.chatllm import ChatLLMEngine


def test_a_missing_main_is_an_engine_error_naming_the_key():
    engine = ChatLLMEngine({"ttft_phases": False})
    with pytest.raises(EngineError) as err:
        engine.cli_invocation("m.bin", Request(i=1, audio="a.wav"))
    assert err.value.kind == "bad_config"
    assert str(err.value) == "the chatllm engine's options lack 'main'"


def test_a_missing_checkout_is_an_engine_error_before_any_import():
    engine = ChatLLMEngine({"ttft_phases": False, "lib": "/x/libchatllm.so"})
    with pytest.raises(EngineError) as err:
        engine.load("m.bin")
    assert str(err.value) == "the chatllm engine's options lack 'chatllm_dir'"
