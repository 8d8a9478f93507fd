"""The llamacpp engine end to end on a tiny random-weight model (orch's own test-model weights,
converted by llama.cpp's convert_hf_to_gguf.py into a text GGUF and an audio mmproj GGUF): the
worker's llama-server in process, then `orch run` through the real command line and workers
(restart: one server; fresh-process: a server per request; cli: llama-mtmd-cli), and
`orch compare --engines chatllm,llamacpp` when a chatllm.cpp build is there too. Skips, saying
what is missing, without a llama-server build or the converter's tree and packages."""

import http.client
import json
import os
import subprocess
import sys

import pytest

from llamacpp_models import skip_unless_ready, tiny_model

skip_unless_ready()

from orchestrator.engines.chatllm.paths import resolve  # noqa: E402
from orchestrator.engines.llamacpp import gguf_files, programs  # noqa: E402
from orchestrator.engines.llamacpp.options import LlamaCppOptions  # noqa: E402
from orchestrator.run import procfs  # noqa: E402
from workers.engines.base import EngineError, Request  # noqa: E402
from workers.engines.llamacpp import LlamaCppEngine  # noqa: E402

from conftest import REPO  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

PHONE = REPO / "samples" / "phone-zh.wav"
ITERS = 4


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    """orch as the user runs it, with this interpreter and this checkout's code."""
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_model(tmp_path_factory)


@pytest.fixture(scope="module")
def engine(files):
    text, mmproj = files
    options = LlamaCppOptions(threads=2, max_new_tokens=16, mmproj=str(mmproj)).to_worker()
    e = LlamaCppEngine({**options, "server": str(programs.find(programs.SERVER)), "decoding": "greedy"})
    e.load(str(text))
    yield e
    e.unload()


def ask(engine, i=1):
    chunks = []
    text = engine.transcribe(Request(i=i, audio=str(PHONE), language="Chinese"), chunks.append)
    return text, chunks


def test_the_files_are_qwen3_asrs_text_model_and_audio_encoder_marked_as_test_models(files):
    text, mmproj = files
    assert gguf_files.text_problem(str(text)) is None and gguf_files.mmproj_problem(str(mmproj)) is None
    assert gguf_files.random_model_kind(str(text)) == gguf_files.random_model_kind(str(mmproj))
    assert gguf_files.random_model_kind(str(text)) == "test model, random weights"
    assert "audio encoder (mmproj)" in gguf_files.text_problem(str(mmproj))


def test_answers_stream_in_chunks_repeat_exactly_and_take_nothing_from_a_cache(engine):
    first, chunks = ask(engine)
    second, chunks2 = ask(engine, 2)
    assert first == second and chunks == chunks2 and "".join(chunks) == first
    facts = engine.request_facts()
    assert facts["streamed"] is True and facts["chunks"] == len(chunks) >= 1
    assert facts["cache_prompt"] is False and facts["cache_n"] == 0
    assert 0 < facts["predicted_tokens"] <= 16 and facts["prompt_tokens"] > 10  # the audio's tokens are prompt
    assert list(engine.ttft_phases(0.0, 1e9)) == ["audio_read_ms", "server_ms", "headers_ms"]


def test_the_server_is_a_child_of_the_worker_so_its_tree_sampling_covers_it(engine):
    assert engine.proc.pid in procfs.descendants(os.getpid())
    tree = procfs.read_tree(os.getpid())
    assert engine.proc.pid in [row.pid for row in tree]


def test_unload_stops_the_server_and_a_new_load_answers_the_same(files, engine):
    expected, _ = ask(engine)
    text, mmproj = files
    e = LlamaCppEngine({**engine.options})
    e.load(str(text))
    proc, port = e.proc, e.port
    assert ask(e)[0] == expected
    e.unload()
    assert proc.returncode is not None and e.proc is None and e.exits == [{"returncode": 0, "how": "exit"}]
    with pytest.raises(OSError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/health")


def test_what_the_engine_refuses(files, tmp_path):
    text, _ = files
    e = LlamaCppEngine({**LlamaCppOptions().to_worker(), "server": "/bin/false", "decoding": "greedy"})
    with pytest.raises(EngineError, match="needs --mmproj"):
        e.load(str(text))
    e.options["mmproj"] = str(tmp_path)
    with pytest.raises(EngineError, match="not a folder"):
        e.load(str(text))
    e.options["mmproj"] = str(text)
    with pytest.raises(EngineError, match="exited") as exc:  # /bin/false: a server that exits at once
        e.load(str(text))
    assert exc.value.kind == "load_failed" and e.proc is None


def run_one(files, tmp_path, strategy: str) -> dict:
    """`orch run --engine llamacpp --strategy S` on the tiny model; its one result."""
    text, _ = files
    proc = orch(
        "run", "--engine", "llamacpp", "--strategy", strategy, "--model", str(text), "--audio", str(PHONE),
        "--iters", str(ITERS), "--warmup", "1", "--threads", "2", "--no-history",
        "--out", str(tmp_path / strategy), "--json", str(tmp_path / f"{strategy}.json"),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    assert "--mmproj not given:" in proc.stderr and "--max-new-tokens defaults to 32" in proc.stderr
    run = json.loads((tmp_path / f"{strategy}.json").read_text(encoding="utf-8"))
    assert run["engine"]["name"] == "llamacpp" and run["engine"]["runtime"].startswith("llama.cpp b")
    (result,) = run["results"]
    assert result["strategy"] == strategy and result["status"] == "ok", result["error"]
    assert result["summary"]["iters_ok"] == ITERS
    assert result["summary"]["verdict"] in ("stable", "plateau", "growing", "shrinking")
    return result


def test_orch_run_restart_and_fresh_process_end_to_end(files, tmp_path):
    texts = set()
    for strategy in ("restart", "fresh-process"):
        result = run_one(files, tmp_path, strategy)
        for it in result["iterations"]:
            assert it["streamed"] is True and it["extra"]["cache_n"] == 0, strategy
            # the model is in the server, the worker's child: its tree holds more than the worker
            assert it["rss_mb"] - it["worker_rss_mb"] > 5, strategy
        texts |= {it["text_raw"] for it in result["iterations"]}
    assert len(texts) == 1 and texts != {""}  # greedy: one text, every request, both strategies


@pytest.mark.skipif(programs.find(programs.CLI) is None, reason="no llama-mtmd-cli in this llama.cpp build")
def test_orch_run_cli_runs_llama_mtmd_cli_per_request(files, tmp_path):
    result = run_one(files, tmp_path, "cli")
    for it in result["iterations"]:
        assert it["extra"]["engine_maxrss_mb"] > 5 and it["extra"]["ttft_includes_load"] is False


CHATLLM = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))


@pytest.mark.skipif(not (CHATLLM.main and CHATLLM.lib), reason="no chatllm.cpp build (CHATLLM_DIR)")
@pytest.mark.chatllm
def test_compare_chatllm_and_llamacpp_on_the_same_weights(files, tmp_path):
    chatllm = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))
    if not all(os.path.exists(p) for p in (chatllm.root, chatllm.main, chatllm.lib)):
        pytest.skip(f"chatllm.cpp not found under {chatllm.root}: set CHATLLM_DIR to a built checkout")
    made = orch("make-test-models", "--only", "tiny-asr-a", "--out", str(tmp_path / "tiny"), cwd=REPO)
    assert made.returncode == 0, made.stderr[-2000:]
    chatllm_file = next((tmp_path / "tiny").glob("tiny-asr-a*.bin"))
    proc = orch(
        "compare", "--engines", "chatllm,llamacpp", "--strategies", "restart", "--iters", str(ITERS),
        "--warmup", "1", "--threads", "2", "--no-history", "--no-limits", "--json", str(tmp_path / "r.json"),
        "--model", f"chatllm={chatllm_file}", "--model", f"llamacpp={files[0]}", "--audio", str(PHONE),
        cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    run = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    rows = [(r["engine"], r["strategy"], r["status"]) for r in run["results"]]
    assert rows == [("chatllm", "restart", "ok"), ("llamacpp", "restart", "ok")]
    assert all(r["summary"]["verdict"] for r in run["results"])
