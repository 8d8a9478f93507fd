"""llama.cpp under load: `orch load --engine llamacpp` (a llama-server per worker, through the
same plan as `orch run`, greedy) and `orch load --url` against a real llama-server that orch
starts (--serve-cmd): every request accounted for, streamed, one text per audio. Skips, saying
what is missing, without a llama-server build or the converter's tree and packages."""

import json
import os
import socket
import subprocess
import sys

import pytest

from llamacpp_models import skip_unless_ready, tiny_model

skip_unless_ready()

from orchestrator.engines.llamacpp import programs  # noqa: E402

from conftest import REPO  # noqa: E402

pytestmark = [pytest.mark.llamacpp, pytest.mark.slow]
JFK = str(REPO / "samples" / "phone-zh.wav")  # the repository's own sample


def orch(*args: str, cwd) -> subprocess.CompletedProcess:
    code = "import sys; from orchestrator.cli import main; sys.argv = ['orch'] + sys.argv[1:]; main()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return tiny_model(tmp_path_factory)


def _result(tmp_path) -> dict:
    (path,) = tmp_path.glob("out/load-*/load.json")
    return json.loads(path.read_text())


def test_orch_load_engine_llamacpp_accounts_for_every_request_greedily(files, tmp_path):
    model, _ = files
    done = orch("load", "--engine", "llamacpp", "--model", str(model), "--audio", JFK, "--concurrency", "2",
                "--workers", "2", "--requests", "6", "--no-history", "--out", "out", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = _result(tmp_path)
    (level,) = result["levels"]
    assert (level["sent"], level["ok"]) == (6, 6)
    assert result["plan"]["decoding"] == "greedy"
    assert level["drift_under_load"]["compared"] == 6 and level["drift_under_load"]["drifted"] == 0


def test_orch_load_url_drives_a_real_llama_server(files, tmp_path):
    model, mmproj = files
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = programs.find(programs.SERVER)
    cmd = f"{server} -m {model} --mmproj {mmproj} --host 127.0.0.1 --port {port} -t 2 -n 16 --temp 0"
    done = orch("load", "--url", f"http://127.0.0.1:{port}/v1/audio/transcriptions", "--serve-cmd", cmd,
                "--model", "tiny", "--audio", JFK, "--concurrency", "1", "--requests", "6", "--no-history",
                "--out", "out", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr  # no 503 while it loads, no stale kept-alive connection
    (level,) = _result(tmp_path)["levels"]
    assert (level["sent"], level["ok"], level["streamed"]) == (6, 6, 6)
    assert level["drift_under_load"]["drifted"] == 0
