"""orch load against a real HTTP server: the test transcription server (tests/asr_server/
server.py: stdlib http.server, one orch calibration worker with a fixed service time) started
by --serve-cmd, or already running (--pid). Exact counts (sent = ok + failed + timed out +
dropped), streamed and non-streamed answers, the server's whole tree gone after the run, after
Ctrl-C (130, finished requests kept) and after a server that never answers (2)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO

SERVER = REPO / "tests" / "asr_server" / "server.py"
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1/audio/transcriptions"


def serve_cmd(port: int, *extra: str) -> str:
    return " ".join([sys.executable, str(SERVER), "--port", str(port), "--ttft-ms", "20", "--token-ms", "1", *extra])


def orch(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", "load", *args],
        capture_output=True, text=True, env=ENV, timeout=timeout,
    )  # fmt: skip


def records(out: Path) -> list[dict]:
    """The levels' requests (the output check's reference pass, level -1, left out: one per audio)."""
    (jsonl,) = out.glob("load-*/requests.jsonl")
    return [r for line in jsonl.read_text().splitlines() if (r := json.loads(line))["level"] >= 0]


def gone(pid: int) -> bool:
    """Not a live process (reaped, or a zombie no one has waited for yet)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def worker_pid(out: Path) -> int:
    (log,) = out.glob("load-*/server.log")
    line = next(ln for ln in log.read_text().splitlines() if ln.startswith("serving "))
    return int(line.split("worker=")[1])


@pytest.mark.slow
def test_streamed_requests_through_a_started_server(tmp_path, shared):
    port = free_port()
    out = tmp_path / "out"
    res = orch(
        "--url", url(port), "--serve-cmd", serve_cmd(port), "--model", "tiny", "--audio", str(shared / "samples"),
        "--connections", "2", "--rates", "8,16", "--requests", "25", "--warmup-requests", "1",
        "--out", str(out), "--json", str(tmp_path / "r.json"), "--slo", "ttft_ms=2000",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    assert [(lv["sent"], lv["ok"], lv["streamed"], lv["accounted"]) for lv in result["levels"]] == [
        (25, 25, 25, True),
        (25, 25, 25, True),
    ]
    recs = records(out)
    assert len(recs) == 2 * 25 + 2 * 1  # and each once
    assert len({r["i"] for r in recs}) == len(recs)
    for r in recs:
        assert r["status"] == "ok" and r["streamed"] is True
        assert r["tokens"] == 14  # the calibration engine's 14 chunks, each stamped by the client
        assert r["dispatched"] <= r["t_request"] < r["t_first"] < r["t_end"] == r["freed"]
        assert r["audio"] in {str(p) for p in (shared / "samples").glob("*.wav")} and r["audio_s"] > 0
    engine = result["engine"]
    assert engine["engine"] == "server" and engine["connections"] == 2
    assert [m["who"] for m in result["levels"][0]["memory"]] in (["server"], [])
    assert result["plan"]["server"]["url"] == url(port)
    assert "streamed answers: 25 of 25" in res.stdout
    # the server and the worker it started are gone once orch returns
    assert gone(engine["server_pid"])
    assert gone(worker_pid(out))


@pytest.mark.slow
def test_a_server_that_does_not_stream(tmp_path, shared):
    port = free_port()
    out = tmp_path / "out"
    res = orch(
        "--url", url(port), "--serve-cmd", serve_cmd(port, "--no-stream"), "--model", "m",
        "--audio", str(shared / "samples" / "jfk.wav"), "--concurrency", "2", "--requests", "12", "--out", str(out),
    )  # fmt: skip
    assert res.returncode == 0, res.stdout + res.stderr
    recs = records(out)
    assert len(recs) == 12
    for r in recs:
        assert r["status"] == "ok" and r["streamed"] is False and r["tokens"] == 0 and r["itl_ms"] is None
        assert r["t_first"] == r["t_end"] and r["ttft_ms"] == r["latency_ms"]  # no stream: TTFT is the latency
        assert r["text"].startswith("calibration stream")
    assert "streamed answers: 0 of 12" in res.stdout


@pytest.mark.slow
def test_failed_requests_are_counted_exactly_with_a_weighted_mix(tmp_path, shared):
    port = free_port()
    out = tmp_path / "out"
    mix = tmp_path / "mix.txt"
    mix.write_text(f"# short and long\n3 {shared / 'samples' / 'phone-zh.wav'}\n1 {shared / 'samples' / 'jfk.wav'}\n")
    res = orch(
        "--url", url(port), "--serve-cmd", serve_cmd(port, "--fail-audio", "jfk.wav"), "--model", "m",
        "--audio-list", str(mix), "--rate", "20", "--requests", "40", "--seed", "5", "--out", str(out),
        "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr  # a request failed
    recs = records(out)
    jfk = [r for r in recs if r["audio"].endswith("jfk.wav")]
    assert 0 < len(jfk) < len(recs)
    assert all(r["status"] == "failed" and r["error"].startswith("HTTP 500") for r in jfk)
    assert all(r["status"] == "ok" for r in recs if not r["audio"].endswith("jfk.wav"))
    (level,) = json.loads((tmp_path / "r.json").read_text())["levels"]
    assert (level["sent"], level["ok"], level["failed"], level["timed_out"], level["dropped"]) == (
        40, 40 - len(jfk), len(jfk), 0, 0,
    )  # fmt: skip
    plan = json.loads((tmp_path / "r.json").read_text())["plan"]
    assert plan["audio_weights"] == [3.0, 1.0]


@pytest.mark.slow
def test_timed_out_requests_are_counted_exactly(tmp_path, shared):
    port = free_port()
    out = tmp_path / "out"
    slow = " ".join([sys.executable, str(SERVER), "--port", str(port), "--ttft-ms", "3000", "--token-ms", "1"])
    res = orch(
        "--url", url(port), "--serve-cmd", slow, "--model", "m", "--audio", str(shared / "samples" / "jfk.wav"),
        "--concurrency", "1", "--requests", "3", "--request-timeout", "0.5", "--out", str(out),
        "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    assert res.returncode == 1, res.stdout + res.stderr
    (level,) = json.loads((tmp_path / "r.json").read_text())["levels"]
    assert (level["sent"], level["ok"], level["timed_out"], level["accounted"]) == (3, 0, 3, True)
    assert {r["status"] for r in records(out)} == {"timed_out"}


@pytest.mark.slow
def test_an_already_running_server_by_pid_is_sampled_and_left_running(tmp_path, shared):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", str(port), "--ttft-ms", "20", "--token-ms", "1"],
        stdout=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("serving ")  # it answers from here on
        res = orch(
            "--url", url(port), "--pid", str(server.pid), "--model", "m", "--audio",
            str(shared / "samples" / "jfk.wav"), "--rate", "10", "--requests", "30", "--sample-hz", "20",
            "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
        )  # fmt: skip
        assert res.returncode == 0, res.stdout + res.stderr
        assert server.poll() is None  # not orch's to stop
        result = json.loads((tmp_path / "r.json").read_text())
        assert result["engine"]["server_pid"] == server.pid
        (level,) = result["levels"]
        assert (level["sent"], level["ok"]) == (30, 30)
        (mem,) = level["memory"]  # the server's tree, sampled from outside
        assert mem["who"] == "server" and mem["samples"] >= 10
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0


def test_a_pid_that_does_not_exist_cannot_start(tmp_path, shared):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    res = orch(
        "--url", url(free_port()), "--pid", str(dead.pid), "--model", "m", "--audio",
        str(shared / "samples" / "jfk.wav"), "--rate", "1", "--requests", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr == f"orch: cannot start: --pid {dead.pid}: no such process\n"


@pytest.mark.slow
def test_a_server_that_never_answers_is_stopped_and_exit_2(tmp_path, shared):
    port = free_port()
    pid_file = tmp_path / "pid"
    # a server that starts a child in its group and never listens
    cmd = (
        f"{sys.executable} -c \"import os, subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', "
        f"'import time; time.sleep(600)']); open('{pid_file}', 'w').write(f'{{os.getpid()}} {{c.pid}}'); time.sleep(600)\""
    )
    res = orch(
        "--url", url(port), "--serve-cmd", cmd, "--serve-timeout", "3", "--model", "m",
        "--audio", str(shared / "samples" / "jfk.wav"), "--rate", "1", "--requests", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert f"the server did not answer on 127.0.0.1:{port} within 3 s; log: " in res.stderr
    assert len(res.stderr.splitlines()) == 1
    server, child = (int(p) for p in pid_file.read_text().split())
    assert gone(server) and gone(child)  # the whole group


def test_a_server_that_exits_at_once_is_exit_2(tmp_path, shared):
    res = orch(
        "--url", url(free_port()), "--serve-cmd", f"{sys.executable} -c 'raise SystemExit(3)'", "--model", "m",
        "--audio", str(shared / "samples" / "jfk.wav"), "--rate", "1", "--requests", "1", "--out", str(tmp_path),
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert "the server exited with code 3 before it answered; log: " in res.stderr


def test_ctrl_c_keeps_finished_requests_and_stops_the_server(tmp_path, shared):
    port = free_port()
    out = tmp_path / "out"
    result_json = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", "load", "--url", url(port),
         "--serve-cmd", serve_cmd(port), "--model", "m", "--audio", str(shared / "samples" / "jfk.wav"),
         "--rate", "20", "--requests", "2000", "--out", str(out), "--json", str(result_json)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        jsonl = None
        while time.monotonic() < deadline:  # the signal: >= 3 finished level requests on disk (after the reference pass's one)
            found = list(out.glob("load-*/requests.jsonl"))
            if found and len(found[0].read_bytes().splitlines()) >= 4:
                jsonl = found[0]
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        assert jsonl is not None, "no request finished within 120 s"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    every = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len({r["i"] for r in every}) == len(every)
    recs = [r for r in every if r["level"] >= 0]  # the reference pass's one request left out
    assert {r["status"] for r in recs} <= {"ok", "cancelled"}
    ok = [r for r in recs if r["status"] == "ok"]
    assert len(ok) >= 3
    result = json.loads(result_json.read_text())
    assert result["interrupted"] is True
    (level,) = result["levels"]
    assert level["accounted"] and level["sent"] == len(recs) and level["ok"] == len(ok)
    assert gone(result["engine"]["server_pid"])
    assert gone(worker_pid(out))


@pytest.mark.parametrize("flag", ["--serve-cmd", "--pid"])
def test_server_flags_without_url(flag, tmp_path):
    res = orch("--rate", "1", flag, "1", "--out", str(tmp_path))
    assert res.returncode == 2
    assert res.stderr == f"orch: cannot start: {flag} goes with --url\n"


def test_the_memory_guard_kills_a_started_server(tmp_path, shared):
    port = free_port()
    out = tmp_path / "out"
    res = orch(
        "--url", url(port), "--serve-cmd", serve_cmd(port), "--model", "m", "--audio",
        str(shared / "samples" / "jfk.wav"), "--rate", "5", "--requests", "20", "--max-rss-mb", "5",
        "--out", str(out), "--json", str(tmp_path / "r.json"),
    )  # fmt: skip
    # a Python server and its worker are far over 5 MB from their start: killed while loading
    assert res.returncode == 2, res.stdout + res.stderr
    assert res.stderr.startswith("orch: cannot start: memory limit: the pool's process trees reached ")
    assert res.stderr.endswith(" MB limit (--max-rss-mb); the server killed before it answered\n")


@pytest.mark.slow
def test_the_memory_guard_leaves_a_pid_server_running_and_stops_sending(tmp_path, shared):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(SERVER), "--port", str(port), "--ttft-ms", "20", "--token-ms", "1"],
        stdout=subprocess.PIPE, text=True, env=ENV,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().startswith("serving ")
        res = orch(
            "--url", url(port), "--pid", str(server.pid), "--model", "m", "--audio",
            str(shared / "samples" / "jfk.wav"), "--rate", "5", "--requests", "20", "--max-rss-mb", "5",
            "--out", str(tmp_path / "out"), "--json", str(tmp_path / "r.json"),
        )  # fmt: skip
        assert res.returncode == 1, res.stdout + res.stderr
        assert "MB limit (--max-rss-mb); no more requests sent (the server is not orch's to stop)" in res.stderr
        assert server.poll() is None  # not orch's to kill
        recs = records(tmp_path / "out")
        refused = [r for r in recs if r["error"] == "not sent: the memory guard stopped the run"]
        assert refused and all(r["status"] == "failed" for r in refused)
        assert len(recs) == 20
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(30) == 0
