"""The llamacpp engine's parts that need no llama.cpp build: its request body (Qwen3-ASR's
prompt, greedy, the prompt cache off unless asked), the server-sent events it reads, the WAV it
sends, its registry entry and the mmproj pairing."""

import io
import json
import wave

import numpy as np
import pytest
from orchestrator.engines import registry
from orchestrator.engines.llamacpp import plan as llamacpp_plan
from orchestrator.engines.llamacpp.options import LlamaCppOptions
from workers.engines.base import EngineError, Request
from workers.engines.llamacpp import LlamaCppEngine, read_events, wav_bytes


def engine(**given):
    return LlamaCppEngine({**LlamaCppOptions(**given).to_worker(), "decoding": "greedy", "mmproj": "a.gguf"})


def test_a_request_is_a_fresh_greedy_conversation_with_the_language_prefilled():
    body = engine(max_new_tokens=8).body(Request(i=1, audio="x.wav", language="Chinese"), "QUJD")
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant"]
    assert body["messages"][1]["content"] == [{"type": "input_audio", "input_audio": {"data": "QUJD", "format": "wav"}}]
    assert body["messages"][2]["content"] == "language Chinese<asr_text>"
    assert body["stream"] is True and body["max_tokens"] == 8
    assert body["temperature"] == 0.0 and body["seed"] == 1234 and body["cache_prompt"] is False
    no_language = engine().body(Request(i=1, audio="x.wav"), "QUJD")
    assert [m["role"] for m in no_language["messages"]] == ["system", "user"]


def test_the_prompt_cache_is_on_only_when_the_last_engine_arg_says_so():
    assert engine(engine_args=["--cache-prompt"]).cache_prompt is True
    assert engine(engine_args=["--cache-prompt", "--no-cache-prompt"]).cache_prompt is False
    e = engine(engine_args=["--cache-prompt"], threads=2, parallel=3)
    e.options["server"] = "/x/llama-server"
    argv = e.server_argv("m.gguf", 8080)
    # orch's --no-cache-prompt first, the user's argument after it (so it wins)
    assert argv.index("--no-cache-prompt") < argv.index("--cache-prompt") == len(argv) - 1
    assert argv[argv.index("-np") + 1] == "3" and argv[argv.index("-t") + 1] == "2"
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and "--temp" in argv


def test_sampled_decoding_sends_no_temperature_and_a_random_seed():
    e = LlamaCppEngine({**LlamaCppOptions().to_worker(), "decoding": "sampled"})
    assert e.sampling() == {"seed": -1}
    with pytest.raises(EngineError, match="no destroy call"):
        LlamaCppEngine({"destroy_on_unload": True})


def sse(*events):
    lines = [b"data: " + json.dumps(e).encode() + b"\n\n" for e in events] + [b"data: [DONE]\n\n"]
    return io.BytesIO(b"".join(lines))


def test_every_chunk_with_text_is_handed_on_as_it_is_read_and_the_timings_kept():
    chunks = []
    pieces, final = read_events(
        sse(
            {"choices": [{"delta": {"role": "assistant"}}]},
            {"choices": [{"delta": {"content": "你"}}]},
            {"choices": [{"delta": {"content": "好"}}]},
            {"choices": [{"delta": {}, "finish_reason": "length"}], "timings": {"prompt_n": 40, "cache_n": 0}},
        ),
        chunks.append,
    )
    assert pieces == chunks == ["你", "好"]
    assert final == {"finish_reason": "length", "timings": {"prompt_n": 40, "cache_n": 0}}
    with pytest.raises(EngineError, match="llama-server: boom"):
        read_events(sse({"error": {"message": "boom"}}), chunks.append)


def test_the_wav_sent_has_a_16_bit_wavs_own_samples():
    pcm = np.array([0, 1, -1, 32767, -32768, 1234], dtype="<i2")
    with wave.open(io.BytesIO(wav_bytes(pcm.astype(np.float32) / 32768.0)), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert np.array_equal(np.frombuffer(w.readframes(6), dtype="<i2"), pcm)


def test_the_registry_entry_offers_no_recreate_and_says_what_each_strategy_needs():
    spec = registry.get("llamacpp")
    assert spec.strategies == ("restart", "fresh-process", "cli")
    assert spec.needs("cli") == "llama-mtmd-cli" and spec.needs("restart") == "llama-server"


def test_the_audio_encoder_is_paired_by_the_manifest_else_by_the_one_file_beside(tmp_path):
    (tmp_path / "a-q8_0.gguf").write_bytes(b"GGUF")
    (tmp_path / "a-mmproj-f16.gguf").write_bytes(b"GGUF")
    assert llamacpp_plan.paired_mmproj(str(tmp_path / "a-q8_0.gguf")) == str(tmp_path / "a-mmproj-f16.gguf")
    (tmp_path / "b-mmproj-f16.gguf").write_bytes(b"GGUF")
    assert llamacpp_plan.paired_mmproj(str(tmp_path / "a-q8_0.gguf")) is None  # two: which one is not guessed
    manifest = {"models": {"a-q8_0": {"file": "a-q8_0.gguf", "mmproj": "b-mmproj-f16.gguf", "precision": "q8_0"}}}
    (tmp_path / "llamacpp-models.json").write_text(json.dumps(manifest))
    assert llamacpp_plan.paired_mmproj(str(tmp_path / "a-q8_0.gguf")) == str(tmp_path / "b-mmproj-f16.gguf")


def test_the_cli_is_given_the_servers_prompt_as_its_chat_template(tmp_path):
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    e = engine(threads=2)
    e.options.update(cli="/x/llama-mtmd-cli", mmproj=str(tmp_path / "m.gguf"))
    inv = e.cli_invocation(str(tmp_path / "m.gguf"), Request(i=1, audio="a.wav", language="Chinese"))
    argv = inv.argv
    assert argv[argv.index("-p") + 1] == "<__media__>" and argv[argv.index("--audio") + 1] == "a.wav"
    template = argv[argv.index("--chat-template") + 1]
    assert "--jinja" in argv and template.startswith("{{'<|im_start|>system\\n<|im_end|>\\n'}}")
    assert template.endswith("{{'<|im_start|>assistant\\nlanguage Chinese<asr_text>'}}{% endif %}")
    with pytest.raises(EngineError, match="chat mode is not driven"):
        e.cli_invocation(str(tmp_path / "m.gguf"), Request(i=1, audio="a.wav"), interactive=True)
