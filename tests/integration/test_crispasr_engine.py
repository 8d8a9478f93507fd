"""The crispasr engine end to end on a tiny random-weight GGUF file (orch's own test-model
weights, converted by CrispASR's converter): in process, then through a real worker process
and the protocol. Needs the crispasr wheel, the converter's packages and a CrispASR checkout
(CRISPASR_SRC); skips, saying which, otherwise."""

import pytest

from crispasr_models import skip_unless_ready, tiny_model

skip_unless_ready()

from orchestrator.engines import registry as engine_registry  # noqa: E402
from orchestrator.engines.crispasr import gguf_header  # noqa: E402
from orchestrator.engines.crispasr.options import CrispASROptions  # noqa: E402
from orchestrator.run.worker_process import WorkerProcess  # noqa: E402
from workers import protocol  # noqa: E402
from workers.engines.base import EngineError, Request  # noqa: E402
from workers.engines.crispasr import CrispASREngine  # noqa: E402

from conftest import REPO  # noqa: E402

PHONE = REPO / "samples" / "phone-zh.wav"

pytestmark = pytest.mark.slow  # a tiny model converted, then run end to end


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return str(tiny_model(tmp_path_factory))


@pytest.fixture(scope="module")
def engine(model):
    e = CrispASREngine({"threads": 2, "max_new_tokens": 32, "decoding": "greedy"})
    e.load(model)
    yield e
    e.unload()


def ask(engine, i=1):
    chunks = []
    text = engine.transcribe(Request(i=i, audio=str(PHONE), language="Chinese"), chunks.append)
    return text, chunks


def test_the_file_is_a_marked_qwen3_asr_gguf(model):
    assert gguf_header.read_keys(model) == {
        "general.architecture": "qwen3asr",
        "orch.test_model": "test model, random weights",
        "orch.name": "tiny-asr-a",
    }


def test_greedy_requests_come_whole_and_repeat_exactly(engine):
    first, chunks = ask(engine)
    second, chunks2 = ask(engine, 2)
    assert first == second and chunks == chunks2 == [first] and first
    facts = engine.request_facts()
    assert facts["streamed"] is False and facts["max_new_tokens"] == 32 and facts["decoding"] == "greedy"
    assert facts["segments"] == 1 and 0 < facts["text_tokens"] <= 32
    assert list(engine.ttft_phases(0.0, 1e9)) == ["audio_read_ms", "transcribe_ms", "text_ms"]
    threads = engine.info()["threads"]
    assert threads["ggml_n_threads"] == 2 and threads["omp_max_threads"] == 2 and threads["openblas_num_threads"] == 2


def test_restart_keeps_the_session_and_the_answer(engine):
    before, _ = ask(engine)
    session = engine.session
    engine.restart()
    after, _ = ask(engine, 2)
    assert engine.session is session and after == before


def test_unload_closes_the_session_and_a_new_load_answers_the_same(model, engine):
    expected, _ = ask(engine)
    e = CrispASREngine({"threads": 2, "max_new_tokens": 32, "decoding": "greedy"})
    e.load(model)
    session = e.session
    e.unload()
    assert e.session is None and session._handle is None  # closed: crispasr_session_close ran
    e.load(model)
    assert ask(e)[0] == expected
    e.unload()


def test_what_the_engine_refuses(model, tmp_path):
    with pytest.raises(EngineError, match="recreate-destroy would be recreate") as exc:
        CrispASREngine({"destroy_on_unload": True})
    assert exc.value.kind == "unsupported"
    e = CrispASREngine({"threads": 2})
    with pytest.raises(EngineError, match="takes a GGUF file, not a folder"):
        e.load(str(tmp_path))
    with pytest.raises(EngineError, match="model file not found"):
        e.load(str(tmp_path / "none.gguf"))
    (tmp_path / "x.gguf").write_text("hello")
    with pytest.raises(EngineError, match="crispasr could not open") as bad:
        e.load(str(tmp_path / "x.gguf"))
    assert bad.value.kind == "load_failed"
    e.load(model)
    (tmp_path / "x.wav").write_text("not audio")
    with pytest.raises(EngineError) as audio:
        e.transcribe(Request(i=1, audio=str(tmp_path / "x.wav"), language="Chinese"), lambda _: None)
    assert audio.value.kind == "bad_audio"
    with pytest.raises(EngineError, match="has no command-line program"):
        e.cli_invocation(model, Request(i=1, audio=str(PHONE)))
    e.unload()


def test_a_worker_process_runs_restart_through_the_protocol(model, tmp_path):
    config = protocol.WorkerConfig(
        strategy="restart",
        engine="crispasr",
        # as the runner sends them: the registry's worker class, every option with its default
        engine_class=engine_registry.get("crispasr").worker,
        engine_options={**CrispASROptions(threads=2, max_new_tokens=8).to_worker(), "decoding": "greedy"},
        audio=str(PHONE),
        language="Chinese",
        models=(model,),
        first_i=1,
        iters=3,
    )
    events = []
    with WorkerProcess("crispasr-test", config, tmp_path / "worker.log") as wp:
        while True:
            event = wp.next_event(deadline=None)
            events.append(event)
            if isinstance(event, protocol.Phase):
                wp.ack()
            if isinstance(event, (protocol.Done, protocol.Error)):
                break
        code = wp.wait_exit(timeout=60)
    assert isinstance(events[-1], protocol.Done), (events[-1], (tmp_path / "worker.log").read_text()[-2000:])
    assert code == 0
    ready = events[0]
    assert isinstance(ready, protocol.Ready) and ready.engine["name"] == "crispasr"
    assert ready.engine["threads"]["pinned_by_orch"] == {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2"}
    marks = [e.name for e in events if isinstance(e, protocol.Phase)]
    assert marks == ["before_load", "after_load"] + ["before_infer", "after_infer"] * 3 + ["after_unload"]
    done = [e for e in events if isinstance(e, protocol.IterationDone)]
    assert [d.i for d in done] == [1, 2, 3]
    assert len({d.text for d in done}) == 1  # greedy: the same text every time
    for d in done:
        assert d.tokens == 1 and d.extra["streamed"] is False and d.extra["max_new_tokens"] == 8
        assert d.extra["text_tokens"] <= 8
        assert sum(d.extra["ttft_phases"].values()) == pytest.approx((d.t_first - d.t_request) * 1000, abs=0.01)
