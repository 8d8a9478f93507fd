"""TTFT by phase through real processes: the ffmpeg shim's decode stamps around a stand-in and
the real ffmpeg, the phases of a real chatllm.cpp run on a tiny model adding up to the TTFT, and
the worker's malloc_trim on this C library (tests/unit/test_ttft_phases.py has the parsing and the
arithmetic on recorded output)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workers import loop
from workers.engines import chatllm as C

from conftest import REPO

CHATLLM = Path(os.environ.get("CHATLLM_DIR") or REPO / "chatllm.cpp")
TINY = Path(os.environ.get("ORCH_TINY_MODELS") or REPO / "models" / "tiny") / "tiny-asr-a.bin"


@pytest.fixture
def fake_ffmpeg(tmp_path):
    """A stand-in for the real ffmpeg: prints its arguments, sleeps 50 ms, exits with $RC."""
    path = tmp_path / "bin" / "ffmpeg"
    path.parent.mkdir()
    path.write_text('#!/bin/sh\necho "decoded $*"\nsleep 0.05\nexit ${RC:-0}\n')
    path.chmod(0o755)
    return path


def test_shim_stamps_the_decode_and_passes_output_and_status_through(fake_ffmpeg):
    env = {"PATH": f"{fake_ffmpeg.parent}{os.pathsep}/usr/bin:/bin"}
    stamps = C.DecodeStamps(env)
    assert stamps.available and env["ORCH_REAL_FFMPEG"] == str(fake_ffmpeg)
    assert env["PATH"].startswith(C.shim_dir())
    t0 = time.monotonic()
    out = subprocess.run(["sh", "-c", "ffmpeg -i a.wav -"], env=env, capture_output=True, pass_fds=stamps.fds)
    t1 = time.monotonic()
    assert out.stdout == b"decoded -i a.wav -\n" and out.returncode == 0
    ((start, end),) = stamps.take()
    # realtime -> monotonic: take() reads the two clocks once, one after the other; a busy host can
    # preempt it between them, so the converted stamps may land late by that gap (never seconds)
    assert t0 <= start < end <= t1 + 0.1
    assert end - start >= 0.045
    assert stamps.take() == []  # taken once
    bad = subprocess.run(["sh", "-c", "ffmpeg x"], env={**env, "RC": "3"}, capture_output=True, pass_fds=stamps.fds)
    assert bad.returncode == 3 and len(stamps.take()) == 1


def test_shim_is_not_stacked_on_itself(fake_ffmpeg):
    env = {"PATH": f"{fake_ffmpeg.parent}{os.pathsep}/usr/bin:/bin"}
    C.DecodeStamps(env)
    again = dict(env)
    stamps = C.DecodeStamps(again)  # a worker whose parent already had the shim
    assert stamps.available and again["ORCH_REAL_FFMPEG"] == str(fake_ffmpeg)


@pytest.mark.skipif(not C.shutil.which("ffmpeg"), reason="ffmpeg not installed")
def test_shim_around_the_real_ffmpeg_decodes_the_sample():
    import wave

    audio = REPO / "samples" / "phone-zh.wav"
    with wave.open(str(audio)) as w:
        assert (w.getframerate(), w.getnchannels()) == (16000, 1)
        frames = w.getnframes()
    env = dict(os.environ)
    stamps = C.DecodeStamps(env)
    cmd = (
        f'ffmpeg -nostdin -threads 0 -i "{audio}" -f f32le -ac 1 -ar 16000 '
        "-hide_banner -loglevel error -"
    )  # chatllm.cpp's audio::load command line
    out = subprocess.run(["sh", "-c", cmd], env=env, capture_output=True, pass_fds=stamps.fds)
    assert out.returncode == 0 and len(out.stdout) == frames * 4  # the whole file as float32
    assert len(stamps.take()) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc")
def test_malloc_trim_is_glibcs():
    # this C library's own malloc_trim, called for real (tests/unit/test_worker_libc.py: no process)
    assert loop.malloc_trim() in (True, False)


@pytest.mark.slow
@pytest.mark.chatllm
@pytest.mark.skipif(
    not (CHATLLM / "bindings" / "libchatllm.so").exists() or not TINY.exists() or not C.shutil.which("ffmpeg"),
    reason="needs a chatllm.cpp build (CHATLLM_DIR), models/tiny (orch make-test-models) and ffmpeg",
)
def test_restart_and_cli_report_phases_that_add_up(tmp_path):
    from orchestrator.engines.chatllm.paths import resolve
    from orchestrator.run.plan import RunPlan
    from orchestrator.run.runner import execute

    paths = resolve(str(CHATLLM))
    plan = RunPlan(
        strategies=["restart", "cli"],
        iters=2,
        warmup=0,
        engine="chatllm",
        models=[str(TINY)],
        audio=str(REPO / "samples" / "phone-zh.wav"),
        language="Chinese",
        out_dir=tmp_path,
        engine_options={
            "chatllm_dir": paths.root,
            "main": paths.main,
            "lib": paths.lib,
            "max_new_tokens": 4,
            "language": "Chinese",
            "threads": 1,
        },
        iter_timeout=120,
    )
    result = execute(plan)
    names = {
        "restart": {"before_decode_ms", "audio_decode_ms", "encode_prefill_ms", "mel_and_first_token_ms"},
        "cli": {"start_load_ms", "audio_decode_ms", "after_decode_ms"},
    }
    for entry in result.results:
        assert entry.status.value == "ok", entry.error
        for it in entry.iterations:
            assert set(it.ttft_phases) == names[entry.strategy]
            assert sum(it.ttft_phases.values()) == pytest.approx(it.ttft_ms, abs=1.0)
            assert it.ttft_phases["audio_decode_ms"] > 0
        assert set(entry.summary.ttft_phases_median) == names[entry.strategy]
