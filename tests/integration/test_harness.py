"""The harness end to end on the calibration engine: real worker processes, real native
leaks, real crashes, hangs and Ctrl-C."""

import json
import os
import shutil
import signal
import subprocess
import time

import pytest
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST


def plan(tmp_path, strategies, iters=6, warmup=1, **options):
    return RunPlan(
        strategies=strategies,
        iters=iters,
        warmup=warmup,
        engine="calibration",
        engine_options={**FAST, **options},
        out_dir=tmp_path,
        iter_timeout=20,
    )


def jsonl(tmp_path, p, strategy):
    path = p.run_dir / f"{strategy}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_result_schema_and_per_iteration_file(tmp_path):
    p = plan(tmp_path, ["restart"], leak_mb=2)
    p.json_path = tmp_path / "r.json"
    result = execute(p)
    on_disk = json.loads(p.json_path.read_text())
    assert on_disk["schema"] == "orch.run/2" and on_disk["run_id"] == p.run_id
    r = on_disk["results"][0]
    assert r["status"] == "ok" and r["scenario"] == "asr"
    it = r["iterations"][0]
    for key in (
        "i",
        "ttft_ms",
        "tokens",
        "tokens_per_s",
        "latency_ms",
        "rtf",
        "text",
        "rss_mb",
        "uss_mb",
        "peak_rss_mb",
        "phases",
    ):
        assert key in it
    assert set(it["phases"]) >= {"before_load", "after_load", "after_infer"}
    assert "after_unload" in r["iterations"][-1]["phases"]
    s = r["summary"]
    for key in (
        "iters_ok",
        "ttft_ms_median",
        "tokens_per_s_median",
        "rss_start_mb",
        "rss_end_mb",
        "growth_mb_per_iter",
        "growth_ci95",
        "verdict",
    ):
        assert key in s
    assert abs(s["growth_mb_per_iter"] - 2.0) <= 0.1
    assert s["verdict"] == "growing"
    assert [rec["i"] for rec in jsonl(tmp_path, p, "restart")] == list(range(1, 7))
    assert result.results[0].iterations[0].warmup is True


def test_recreate_sees_load_leak_and_restart_does_not(tmp_path):
    res = execute(plan(tmp_path, ["restart", "recreate"], iters=8, leak_on_load_mb=3))
    by = {r.strategy: r.summary for r in res.results}
    assert abs(by["recreate"].growth_mb_per_iter - 3.0) <= 0.15
    assert by["restart"].verdict == "stable"


@pytest.mark.slow
def test_fresh_process_and_cli_show_no_growth_from_a_per_call_leak(tmp_path):
    res = execute(plan(tmp_path, ["fresh-process", "cli"], iters=6, leak_mb=4))
    for r in res.results:
        assert r.status == "ok", r.error
        assert r.summary.verdict == "stable", (r.strategy, r.summary)
        assert abs(r.summary.growth_mb_per_iter) < 0.1


@pytest.mark.slow
def test_crash_keeps_earlier_iterations_and_other_strategies_run(tmp_path):
    p = plan(tmp_path, ["recreate", "fresh-process", "cli"], iters=5, crash_at=3)
    res = execute(p)
    for r in res.results:
        assert r.status == "crashed", (r.strategy, r.error)
        assert "SIGSEGV" in r.error
        assert [it.i for it in r.iterations] == [1, 2]
        assert [rec["i"] for rec in jsonl(tmp_path, p, r.strategy)] == [1, 2]


@pytest.mark.slow
def test_hang_is_killed_and_marked_timeout(tmp_path):
    p = plan(tmp_path, ["restart", "cli"], iters=4, hang_at=2)
    p.iter_timeout = 1.5
    res = execute(p)
    for r in res.results:
        assert r.status == "timeout", r
        assert [it.i for it in r.iterations] == [1]
        assert "iteration 2" in r.error
        # the cut-off request is kept apart, not lost, and enters no statistic
        assert r.partial.i == 2 and r.partial.elapsed_s >= 1.5
        assert r.summary.iters_ok == 1


@pytest.mark.slow
def test_ctrl_c_writes_what_was_measured(tmp_path):
    out = tmp_path / "out"
    js = tmp_path / "r.json"
    # far more iterations than can finish before the signal, even on a loaded machine
    proc = subprocess.Popen(
        [
            "orch",
            "run",
            "--strategy",
            "restart",
            "--iters",
            "5000",
            "--ttft-ms",
            "5",
            "--token-ms",
            "5",
            "--out",
            str(out),
            "--json",
            str(js),
            "--no-history",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # wait until a few iterations are on disk
    deadline = time.time() + 30
    while time.time() < deadline:
        files = list(out.glob("*/restart.jsonl"))
        if files and len(files[0].read_text().splitlines()) >= 3:
            break
        time.sleep(0.1)
    assert files, "no iteration reached the disk within 30 s"
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr.decode()
    r = json.loads(js.read_text())["results"][0]
    assert r["status"] == "interrupted"
    assert len(r["iterations"]) >= 3
    if r["partial"]:  # the signal usually lands mid-request
        assert r["partial"]["i"] == len(r["iterations"]) + 1
    on_disk = [json.loads(line)["i"] for line in files[0].read_text().splitlines()]
    # exactly once, in order, the same in the JSONL and in run.json — wherever SIGINT landed
    assert on_disk == [it["i"] for it in r["iterations"]] == list(range(1, len(on_disk) + 1))


def test_parent_side_exception_at_iteration_3_keeps_records_and_runs_the_next_strategy(tmp_path, monkeypatch):
    from orchestrator.run import runner as runner_module

    calls = {"n": 0}

    def broken_scorer(plan, audio_s):
        def score(text):
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("scorer exploded")
            return {"cer": 0.0}

        return score

    monkeypatch.setattr(runner_module, "_scorer", broken_scorer)
    p = plan(tmp_path, ["restart", "recreate"], iters=10)
    res = execute(p)
    first, second = res.results
    assert first.status == "error"
    assert "RuntimeError: scorer exploded" in first.error
    assert [it.i for it in first.iterations] == [1, 2, 3]
    assert [it.cer for it in first.iterations] == [0.0, 0.0, None]  # the third: written unscored
    assert [rec["i"] for rec in jsonl(tmp_path, p, "restart")] == [1, 2, 3]
    assert second.status == "ok"
    assert [it.i for it in second.iterations] == list(range(1, 11))
    on_disk = json.loads((p.run_dir / "run.json").read_text())
    assert [r["status"] for r in on_disk["results"]] == ["error", "ok"]


@pytest.mark.parametrize("step", ["written", "synced"])
def test_ctrl_c_inside_a_write_during_a_real_run_leaves_each_record_once(tmp_path, monkeypatch, step):
    from orchestrator.run.record_sink import RecordSink
    from orchestrator.run.runner import RunInterrupted

    seen = {"n": 0}

    def interrupt_at_third_record(self, name):
        if name == "truncated":
            seen["n"] += 1
        if name == step and seen["n"] == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(RecordSink, "_step", interrupt_at_third_record)
    p = plan(tmp_path, ["restart", "recreate"], iters=6)
    with pytest.raises(RunInterrupted) as exc:
        execute(p)
    r = exc.value.result.results[0]
    assert r.status == "interrupted" and len(exc.value.result.results) == 1
    # record 3 was being written when the signal came; the clean-up wrote it, once
    assert [it.i for it in r.iterations] == [1, 2, 3]
    assert [rec["i"] for rec in jsonl(tmp_path, p, "restart")] == [1, 2, 3]


def test_missing_audio_fails_before_any_worker(tmp_path):
    proc = subprocess.run(
        [
            "orch",
            "run",
            "--strategy",
            "restart",
            "--audio",
            str(tmp_path / "nope.wav"),
            "--out",
            str(tmp_path),
            "--no-history",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "audio file not found" in proc.stderr and "nope.wav" in proc.stderr
    assert not list(tmp_path.glob("*/*.jsonl"))


@pytest.mark.slow
def test_compare_prints_table_and_json(tmp_path):
    js = tmp_path / "r.json"
    proc = subprocess.run(
        [
            "orch",
            "compare",
            "--strategies",
            "restart,cli",
            "--iters",
            "4",
            "--ttft-ms",
            "5",
            "--token-ms",
            "1",
            "--out",
            str(tmp_path),
            "--json",
            str(js),
            "--no-history",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout[: proc.stdout.rindex("]") + 1])
    assert [r["strategy"] for r in rows] == ["restart", "cli"]
    assert json.loads(js.read_text())["plan"]["strategies"] == ["restart", "cli"]
    # no --engine: one line says the numbers are the calibration engine's (issue 27 item 8)
    assert sum("these numbers come from the calibration engine" in line for line in proc.stderr.splitlines()) == 1
    decision = json.loads(js.read_text())["decision"]  # docs/decision.md
    assert [(r["row"], r["safe"]) for r in decision["rows"]] == [("restart", True), ("cli", True)]
    assert [c["what"] for c in decision["choices"]] == ["first text", "whole requests", "memory"]
    umask = os.umask(0)
    os.umask(umask)
    assert js.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.skipif(not shutil.which("ffprobe"), reason="ffprobe (ffmpeg) not installed: cannot tell audio from not")
def test_not_audio_fails_early_naming_the_file(tmp_path):
    bogus = tmp_path / "notes.wav"
    bogus.write_text("this is not audio")
    proc = subprocess.run(
        ["orch", "run", "--strategy", "restart", "--audio", str(bogus), "--out", str(tmp_path), "--no-history"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "not an audio file" in proc.stderr and "notes.wav" in proc.stderr
