"""The worker side of orch stream: the request's optional start of the answer on the wire,
and the calibration engine's cost model and continuation of a given prefix."""

import time

import numpy as np
from orchestrator.engines.calibration.options import CalibrationOptions
from orchestrator.stream.source import RATE, write_wav
from workers import protocol
from workers.engines.base import Request
from workers.engines.calibration import CalibrationEngine, audio_tokens, words_after_prefix
from workers.stream import tokens_after_prefix, wav_seconds


def test_a_request_without_a_prefix_is_the_line_it_was():
    line = protocol.encode(protocol.ServeRequest(i=3, audio="a.wav"))
    assert b"prefix" not in line
    assert protocol.decode(line, "p", protocol.PARENT_TYPES) == protocol.ServeRequest(3, "a.wav", None)
    with_prefix = protocol.encode(protocol.ServeRequest(i=4, audio="a.wav", prefix="ask not"))
    assert protocol.decode(with_prefix, "p", protocol.PARENT_TYPES).prefix == "ask not"


def test_tokens_after_prefix_keeps_the_prefix_and_what_follows():
    assert tokens_after_prefix(["a", " b", " c"], "a b") == ("a b", [" c"])
    assert tokens_after_prefix(["a", " b"], None) == ("", ["a", " b"])
    assert tokens_after_prefix(["a"], "a b c") == ("a b c", [])


def test_audio_tokens_are_the_numbered_words_of_the_audio():
    assert audio_tokens(0.0, 2.0, 2.0) == ["w1", " w2", " w3", " w4"]
    assert audio_tokens(1.0, 1.0, 2.0) == ["w3", " w4"]  # a window 1 s into the stream
    assert audio_tokens(0.0, 0.4, 2.0) == []
    assert words_after_prefix(["w3", " w4", " w5"], "w1 w2 w3") == ("w1 w2 w3", [" w4", " w5"])


def _engine(**cost):
    options = CalibrationOptions(ttft_ms=0.0, token_ms=0.0, model_mb=0.0, **cost).to_worker()
    engine = CalibrationEngine(options)
    engine.load(None)
    return engine


def test_the_cost_model_charges_the_audio_and_the_prefix_is_not_generated_again(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, np.zeros(2 * RATE, dtype=np.int16))
    assert wav_seconds(str(wav)) == 2.0
    engine = _engine(encode_ms_per_s=100.0, audio_tokens_per_s=2.0)
    chunks: list[str] = []
    t = time.monotonic()
    text = engine.transcribe(Request(i=1, audio=str(wav), prefix="w1 w2", offset_s=1.0), chunks.append)
    assert time.monotonic() - t >= 0.2  # 2 s of audio at 100 ms per second
    assert text == "w1 w2 w3 w4 w5 w6"  # the words of 1..3 s of the stream, after the prefix's last
    assert chunks == [" w3", " w4", " w5", " w6"]  # only what follows the prefix is generated
    assert engine.takes_prefix
