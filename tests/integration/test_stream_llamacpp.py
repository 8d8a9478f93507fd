"""orch stream on llama.cpp with the tiny random-weight model: llama-server continues the
prefilled assistant turn `language X<asr_text>` + the start of the answer, streams only what it
generates, and `orch stream --policy redecode` takes a start of the answer from the 3rd chunk
(not LocalAgreement-2). Skips, saying what is missing, without a
llama-server build or the converter's tree and packages (tests/llamacpp_models.py)."""

import json
import os
import subprocess
import sys

import pytest

from llamacpp_models import skip_unless_ready, tiny_model

skip_unless_ready()

from orchestrator.engines.llamacpp import programs  # noqa: E402
from orchestrator.engines.llamacpp.options import LlamaCppOptions  # noqa: E402
from workers.engines.base import Request  # noqa: E402
from workers.engines.llamacpp import LlamaCppEngine  # noqa: E402

from conftest import REPO  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]

PHONE = REPO / "samples" / "phone-zh.wav"
PREFIX = "開放 時間"


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
    options = LlamaCppOptions(threads=2, max_new_tokens=6, mmproj=str(mmproj)).to_worker()
    e = LlamaCppEngine({**options, "server": str(programs.find(programs.SERVER)), "decoding": "greedy"})
    e.load(str(text))
    yield e
    e.unload()


def ask(engine, **fields):
    chunks: list[str] = []
    text = engine.transcribe(Request(i=1, audio=str(PHONE), **fields), chunks.append)
    return text, chunks, engine.request_facts()


def test_the_server_continues_the_start_of_the_answer_and_streams_only_what_it_generates(engine):
    plain, plain_chunks, plain_facts = ask(engine, language="Chinese")
    text, chunks, facts = ask(engine, language="Chinese", prefix=PREFIX)
    assert engine.prefix_taken(Request(i=1, language="Chinese", prefix=PREFIX))
    # the prefill is not streamed back: every chunk is generated text, the answer is prefix + chunks
    assert "".join(plain_chunks) == plain and "<asr_text>" not in plain
    assert text.startswith(PREFIX) and text[len(PREFIX) :] == "".join(chunks) and "<asr_text>" not in text
    assert chunks and facts["chunks"] == len(chunks) and 0 < facts["predicted_tokens"] <= 6
    assert facts["prompt_tokens"] > plain_facts["prompt_tokens"]  # the prefix's tokens are in the prompt
    # without a language there is nowhere to put it: not taken, not sent, not in the answer
    assert not engine.prefix_taken(Request(i=1, prefix=PREFIX))


def test_orch_stream_redecode_takes_a_start_of_the_answer(files, tmp_path):
    model, _ = files
    out = tmp_path / "r.json"
    proc = orch("stream", "--engine", "llamacpp", "--model", str(model), "--language", "Chinese", "--audio", str(PHONE),
                "--policy", "redecode", "--chunk-s", "1", "--unfixed-tokens", "1", "--threads", "2",
                "--max-new-tokens", "6", "--unpaced", "--no-whole", "--out", str(tmp_path / "out"),
                "--json", str(out), cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, (proc.stdout, proc.stderr[-3000:])
    result = json.loads(out.read_text(encoding="utf-8"))
    states = [u["prefix_state"] for u in result["updates"]]
    # a start of the answer from the 3rd chunk, every one taken: not LocalAgreement-2
    assert states[:2] == [None, None] and len(states) > 2 and set(states[2:]) == {"taken"}
    assert result["stream"]["method"] == "start-of-answer" and "note" not in result["stream"]
    taken = [u for u in result["updates"] if u["prefix_state"] == "taken"]
    assert all(u["prefix"] and (u["committed"] + u["tentative"]).startswith(u["prefix"]) for u in taken)
