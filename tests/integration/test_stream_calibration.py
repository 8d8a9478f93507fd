"""orch stream end to end on the calibration engine: the three policies run (unpaced, quick),
the result JSON and the JSONL events agree (each event once), and Ctrl-C in the middle of a
paced stream exits 130 with every event written so far kept and the result marked
interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "phone-zh.wav"
COST = ["--ttft-ms", "5", "--token-ms", "1", "--encode-ms-per-s", "10", "--audio-tokens-per-s", "3"]


@pytest.mark.parametrize("policy", ["redecode", "window", "vad"])
def test_each_policy_streams_a_file_unpaced(tmp_path, policy):
    events = tmp_path / "ev.jsonl"
    args = ["stream", "--audio", str(SAMPLE), "--chunk-s", "1", "--unpaced", "--policy", policy, "--window-s", "2",
            "--vad", "energy", "--out", str(tmp_path / "out"), "--jsonl", str(events), "--json", str(tmp_path / "r.json"), *COST]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    result = json.loads((tmp_path / "r.json").read_text())
    assert result["stream"]["policy"] == policy and result["stream"]["paced"] is False
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["event"] for e in lines[:1] + lines[-1:]] == ["start", "end"]
    ks = [e["k"] for e in lines if e["event"] == "update"]
    assert ks == list(range(1, len(result["updates"]) + 1)) and ks  # each update once, in order
    assert result["text"].strip() and result["penalty"]["rate"] >= 0
    assert result["figures"]["first_text_s"] is not None
    if policy == "vad":
        assert result["stream"]["vad"].startswith("energy")
        assert all(u["tentative"] == "" for u in result["updates"])
    else:
        assert sum(1 for u in result["updates"] if u["prefix_state"] == "taken") >= 1


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    res = CliRunner().invoke(main, ["stream", "--audio", str(tmp_path / "none.wav"), "--chunk-s", "0"])
    assert res.exit_code == 2
    assert "--chunk-s must be > 0" in res.output and "no such file or folder" in res.output
    assert "Traceback" not in res.output


def test_the_memory_guard_stops_the_stream_with_one_line(tmp_path):
    args = ["stream", "--audio", str(SAMPLE), "--unpaced", "--model-mb", "300", "--max-rss-mb", "150",
            "--out", str(tmp_path / "out"), *COST]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1, res.output
    assert "memory limit" in res.output and "Traceback" not in res.output


@pytest.mark.slow
def test_ctrl_c_keeps_every_event_once(tmp_path):
    events, out = tmp_path / "ev.jsonl", tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from orchestrator.cli import main; main()", "stream", "--build-minutes", "1",
         "--samples", str(REPO / "samples"), "--chunk-s", "0.5", "--out", str(out), "--jsonl", str(events), *COST],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the signal: 3 updates on disk
            if events.exists() and events.read_text().count('"update"') >= 3:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, (stdout, stderr)
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    ks = [e["k"] for e in lines if e["event"] == "update"]
    assert len(ks) >= 3 and ks == list(range(1, len(ks) + 1))
    assert lines[-1]["event"] == "end" and lines[-1]["interrupted"] is True
    (result_file,) = out.glob("*/stream.json")
    result = json.loads(result_file.read_text())
    assert result["interrupted"] is True and len(result["updates"]) == len(ks)
