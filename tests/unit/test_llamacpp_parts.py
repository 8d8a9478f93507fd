"""The llamacpp engine's parts that need no llama.cpp build: its request body (Qwen3-ASR's
prompt, greedy, the prompt cache off unless asked, orch stream's start of the answer after the
prefilled language), the server-sent events it reads (a prefill sent back cut), the answer it
returns, the WAV it sends, its registry entry and the mmproj pairing."""

import io
import json
import wave
from types import SimpleNamespace

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
    # the prefilled turn is continued by name (so the server does not stream it back)
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    no_language = engine().body(Request(i=1, audio="x.wav"), "QUJD")
    assert [m["role"] for m in no_language["messages"]] == ["system", "user"]
    assert "continue_final_message" not in no_language and "add_generation_prompt" not in no_language


def test_a_start_of_the_answer_follows_the_prefilled_language_and_is_taken_only_with_one():
    e = engine()
    with_language = Request(i=1, audio="x.wav", language="Chinese", prefix="開放 時間")
    body = e.body(with_language, "QUJD")
    assert body["messages"][-1] == {"role": "assistant", "content": "language Chinese<asr_text>開放 時間"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert e.takes_prefix and e.prefix_taken(with_language)
    # without a language the model writes its framing itself first: nowhere to put it
    no_language = Request(i=1, audio="x.wav", prefix="開放 時間")
    body = e.body(no_language, "QUJD")
    assert [m["role"] for m in body["messages"]] == ["system", "user"] and "continue_final_message" not in body
    assert "開放" not in json.dumps(body, ensure_ascii=False)
    assert not e.prefix_taken(no_language)


class FakeConnection:
    """http.client.HTTPConnection's part the engine uses, answering with given SSE events."""

    def __init__(self, events):
        self.events = events
        self.sent: list[dict] = []  # the request bodies

    def __call__(self, host, port, timeout):
        return self

    def request(self, method, path, body, headers):
        self.sent.append(json.loads(body))

    def getresponse(self):
        resp = sse(*self.events)
        resp.status = 200
        return resp

    def close(self):
        pass


def test_the_answer_is_the_start_of_the_answer_and_the_stream_and_only_the_stream_is_handed_on(tmp_path, monkeypatch):
    wav = tmp_path / "a.wav"
    wav.write_bytes(wav_bytes(np.zeros(1600, dtype=np.float32)))
    events = [{"choices": [{"delta": {"content": c}}]} for c in ("間", "到")]
    server = FakeConnection(events)
    monkeypatch.setattr("workers.engines.llamacpp.http.client.HTTPConnection", server)
    e = engine()
    e.proc, e.port = SimpleNamespace(pid=0), 1  # as if loaded: the connection is the fake's
    chunks = []
    text = e.transcribe(Request(i=1, audio=str(wav), language="Chinese", prefix="開放時"), chunks.append)
    assert text == "開放時間到" and chunks == ["間", "到"]
    assert server.sent[-1]["messages"][-1]["content"] == "language Chinese<asr_text>開放時"
    # no language: the prefix is not the engine's to take, and not in the answer
    chunks.clear()
    assert e.transcribe(Request(i=2, audio=str(wav), prefix="開放時"), chunks.append) == "間到"


def test_a_prefill_the_server_sends_back_is_cut_from_the_first_chunk():
    chunks = []
    events = [
        {"choices": [{"delta": {"role": "assistant"}}]},
        {"choices": [{"delta": {"content": "language Chinese<asr_text>開放時間"}}]},
        {"choices": [{"delta": {"content": "language Chinese<asr_text>開放時間"}}]},
    ]
    pieces, _ = read_events(sse(*events), chunks.append, echo="language Chinese<asr_text>開放時")
    assert pieces == chunks == ["間", "language Chinese<asr_text>開放時間"]  # the first chunk only
    chunks.clear()
    only_echo = [{"choices": [{"delta": {"content": "language Chinese<asr_text>"}, "finish_reason": "stop"}]}]
    pieces, final = read_events(sse(*only_echo), chunks.append, echo="language Chinese<asr_text>")
    assert pieces == chunks == [] and final == {"finish_reason": "stop"}  # nothing generated: nothing streamed
    pieces, _ = read_events(sse(*events[1:2]), chunks.append, echo="language English<asr_text>")
    assert pieces == ["language Chinese<asr_text>開放時間"]  # not the prefill: kept whole


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
