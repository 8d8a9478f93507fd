"""TTFT by phase: chatllm.cpp's statistics parsed from RECORDED output (tests/fixtures/chatllm_*:
the bindings' `chatllm_show_statistics` META lines after two requests on one object, and
`main`'s stdout for the aligner, which prints its timings, and for ASR, which prints none;
tiny-asr-a / tiny-aligner, 2 threads), the phase arithmetic, and the worker's reporting
(extra.ttft_phases, ttft_cpu_ms, trim_after_unload). The ffmpeg shim, malloc_trim itself and a real run:
tests/integration/test_ttft_phases_processes.py."""

import time

import pytest
from workers import loop, protocol
from workers.engines import chatllm as C
from workers.engines.base import Engine

from conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def lines(name: str) -> list[str]:
    return (FIXTURES / name).read_text(encoding="utf-8").split("\n")


# ------------------------------------------------------------------ statistics (recorded)


def test_bindings_statistics_are_parsed_exactly():
    assert C.parse_statistics(lines("chatllm_bindings_statistics_1.txt")) == C.Statistics(98.06, 76, 107.47, 7)
    assert C.parse_statistics(lines("chatllm_bindings_statistics_2.txt")) == C.Statistics(238.29, 152, 254.52, 14)


def test_statistics_add_up_over_an_object_so_a_request_is_the_difference():
    first = C.parse_statistics(lines("chatllm_bindings_statistics_1.txt"))
    second = C.parse_statistics(lines("chatllm_bindings_statistics_2.txt"))
    one = second.minus(first)
    assert one.prompt_ms == pytest.approx(140.23)
    assert (one.prompt_tokens, one.eval_tokens) == (76, 7)  # the same request twice
    assert one.eval_ms == pytest.approx(147.05)
    assert first.minus(C.Statistics()) == first


def test_main_aligner_stdout_has_the_timings_block():
    assert C.parse_statistics(lines("chatllm_main_aligner_stdout.txt")) == C.Statistics(171.75, 75, 0.0, 0)


def test_main_asr_stdout_has_no_statistics():
    assert C.parse_statistics(lines("chatllm_main_asr_stdout.txt")) is None
    assert C.parse_statistics([]) is None


def test_recorded_main_outputs_end_as_the_done_pattern_expects():
    import re

    for name in ("chatllm_main_aligner_stdout.txt", "chatllm_main_asr_stdout.txt"):
        assert re.search(C.MAIN_DONE, (FIXTURES / name).read_bytes()), name


# ------------------------------------------------------------------ phase arithmetic


def test_in_process_phases_add_up_to_the_ttft():
    ph = C.phases_in_process(100.0, 100.9, [(100.005, 100.085)], C.Statistics(prompt_ms=800.0))
    assert ph == {
        "before_decode_ms": 5.0,
        "audio_decode_ms": 80.0,
        "encode_prefill_ms": 800.0,
        "mel_and_first_token_ms": 15.0,
    }
    assert sum(ph.values()) == pytest.approx(900.0)


def test_in_process_phases_with_pieces_missing():
    assert C.phases_in_process(1.0, 2.0, [], None) is None
    assert C.phases_in_process(1.0, 2.0, [], C.Statistics(prompt_ms=700.0)) == {"encode_prefill_ms": 700.0}
    assert C.phases_in_process(1.0, None, [(1.01, 1.05)], C.Statistics(prompt_ms=700.0)) == {
        "before_decode_ms": 10.0,
        "audio_decode_ms": 40.0,
        "encode_prefill_ms": 700.0,
    }


def test_program_phases_name_the_load_when_the_ttft_includes_it():
    one_shot = C.phases_program(10.0, 11.5, [(10.47, 10.54)], includes_load=True)
    assert one_shot == {"start_load_ms": 470.0, "audio_decode_ms": 70.0, "after_decode_ms": 960.0}
    assert sum(one_shot.values()) == pytest.approx(1500.0)
    interactive = C.phases_program(10.0, 11.0, [(10.004, 10.074)], includes_load=False)
    assert set(interactive) == {"before_decode_ms", "audio_decode_ms", "after_decode_ms"}
    assert C.phases_program(10.0, 11.0, [], includes_load=True) is None


# ------------------------------------------------------------------ the ffmpeg shim


def test_no_ffmpeg_no_stamps(tmp_path):
    stamps = C.DecodeStamps({"PATH": str(tmp_path)})
    assert not stamps.available and stamps.take() == [] and stamps.fds == ()


# ------------------------------------------------------------------ the engine's bookkeeping


class FakeStamps:
    def __init__(self):
        self.queue: list[list[tuple[float, float]]] = []

    def take(self):
        return self.queue.pop(0) if self.queue else []

    fds = ()


def test_engine_reports_each_requests_share_of_the_statistics():
    engine = C.ChatLLMEngine({"ttft_phases": False})
    engine.stamps = FakeStamps()
    recorded = iter([lines("chatllm_bindings_statistics_1.txt"), lines("chatllm_bindings_statistics_2.txt")])

    class FakeChat:
        def show_statistics(self):
            engine._meta.extend(next(recorded))

    engine.chat = FakeChat()
    engine.stamps.queue = [[], [(10.002, 10.07)], [], [(20.003, 20.06)]]  # cleared before, read after
    engine.stamps.take()
    engine._request_stats()
    first = engine.ttft_phases(10.0, 10.2)
    assert first == {
        "before_decode_ms": 2.0,
        "audio_decode_ms": 68.0,
        "encode_prefill_ms": 98.06,
        "mel_and_first_token_ms": pytest.approx(31.94),
    }
    engine.stamps.take()
    engine._request_stats()  # after restart: the clocks went on adding up
    second = engine.ttft_phases(20.0, 20.3)
    assert second["encode_prefill_ms"] == pytest.approx(140.23)
    assert sum(second.values()) == pytest.approx(300.0)


def test_phases_off_reports_nothing():
    engine = C.ChatLLMEngine({"ttft_phases": False})
    assert engine.stamps is None
    assert engine.ttft_phases(1.0, 2.0) is None
    assert engine.program_ttft_phases(1.0, 2.0, True) is None
    assert engine.program_pass_fds == ()


# ------------------------------------------------------------------ the worker's reporting


class FakeChannel:
    def __init__(self):
        self.sent: list = []
        self.phases: list[str] = []

    def send(self, event):
        self.sent.append(event)

    def phase(self, name, i, model=None):
        self.phases.append(name)


class PhasedEngine(Engine):
    name = "phased"

    def load(self, model):
        pass

    def transcribe(self, request, on_chunk):
        time.sleep(0.01)
        on_chunk("a")
        on_chunk("b")
        return "ab"

    def restart(self):
        pass

    def unload(self):
        pass

    def ttft_phases(self, t_request, t_first):
        return {"wait_ms": round((t_first - t_request) * 1000, 3)}


def _config(**given) -> protocol.WorkerConfig:
    return protocol.WorkerConfig(strategy="restart", engine="test", engine_class="m:C", engine_options={}, **given)


def test_iteration_done_carries_the_phases_and_the_cpu_to_first_token():
    ch = FakeChannel()
    s = loop.Session(ch, PhasedEngine({}), _config(audio="a.wav"))
    s.request(1, None)
    done = [e for e in ch.sent if isinstance(e, protocol.IterationDone)][0]
    extra = done.extra
    assert extra["ttft_phases"]["wait_ms"] == pytest.approx((done.t_first - done.t_request) * 1000, abs=0.01)
    assert extra["ttft_cpu_ms"] >= 0 and extra["ttft_involuntary_switches"] >= 0


def test_engines_without_phases_report_none():
    from orchestrator.engines.calibration.options import CalibrationOptions
    from workers.engines.calibration import CalibrationEngine

    ch = FakeChannel()
    options = CalibrationOptions(ttft_ms=1.0, token_ms=0.1).to_worker()
    s = loop.Session(ch, CalibrationEngine(options), _config())
    s.load(1, "m:1")
    s.request(1, "m:1")
    done = [e for e in ch.sent if isinstance(e, protocol.IterationDone)][0]
    assert "ttft_phases" not in done.extra and "ttft_cpu_ms" in done.extra


def test_trim_after_unload_calls_malloc_trim_before_the_mark(monkeypatch):
    calls = []
    ch = FakeChannel()
    monkeypatch.setattr(loop, "malloc_trim", lambda: calls.append(list(ch.phases)) or True)
    s = loop.Session(ch, PhasedEngine({"trim_after_unload": True}), _config())
    s.unload(1, None)
    assert calls == [[]] and ch.phases == ["after_unload"]  # trimmed, then sampled
    s2 = loop.Session(FakeChannel(), PhasedEngine({}), _config())
    s2.unload(1, None)
    assert len(calls) == 1


def test_trim_where_there_is_none_is_noted_once(monkeypatch):
    monkeypatch.setattr(loop, "malloc_trim", lambda: None)
    s = loop.Session(FakeChannel(), PhasedEngine({"trim_after_unload": True}), _config())
    s.unload(1, None)
    s.unload(2, None)
    assert s.notes == ["trim_after_unload: this C library has no malloc_trim; nothing trimmed"]
