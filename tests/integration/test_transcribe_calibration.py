"""`orch transcribe` on the calibration engine, through a real `orch` process: one file, a
folder of files, the --json/--jsonl records, --srt, the exit codes (each bad input: 2; a
file that fails: 1; Ctrl-C: 130 with the finished files' records kept), streaming under a
pseudo-terminal, and docs/transcribe.md's example."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

CALIBRATION_TEXT = "calibration stream one two three four five six seven eight nine ten eleven twelve"
FAST = ["--ttft-ms", "5", "--token-ms", "1"]
TIMING_KEYS = ("ttft_ms", "latency_ms", "rtf", "load_ms")


def orch(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["orch", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture
def samples(shared, tmp_path) -> Path:
    """A copy of the shared samples (wav + txt), so paths in records are known."""
    folder = tmp_path / "samples"
    folder.mkdir()
    for name in ("hours-zh", "jfk", "phone-zh"):
        for ext in (".wav", ".txt"):
            shutil.copy(shared / "samples" / (name + ext), folder / (name + ext))
    return folder


def _timings_checked(record: dict, loaded: bool) -> dict:
    """The record with its timing figures checked (positive; load only for the first file of
    a worker) and set to None, so the rest compares exactly."""
    out = dict(record)
    for key in TIMING_KEYS:
        if key == "load_ms" and not loaded:
            assert out[key] is None, record
        else:
            assert isinstance(out[key], float) and out[key] > 0, (key, record)
        out[key] = None
    return out


def _expected(index: int, path: Path, audio_s: float, language, cer, wer, **kw) -> dict:
    base = {
        "index": index,
        "file": str(path),
        "status": "ok",
        "audio_s": audio_s,
        "language": language,
        "text_raw": CALIBRATION_TEXT,
        "text": CALIBRATION_TEXT,
        "ttft_ms": None,
        "latency_ms": None,
        "rtf": None,
        "tokens": 14,
        "load_ms": None,
        "reference": str(path.with_suffix(".txt")),
        "cer": cer,
        "wer": wer,
        "srt": None,
        "alignment_violations": None,
        "error": None,
    }
    return {**base, **kw}


# the calibration engine's text against each sample's reference: 14 tokens against 10 digits
# (phone-zh, per character: 68 edits / 10), against the hours' 13 characters (68 / 13), and
# against JFK's 22 words, every one of them wrong (22 / 22)
PHONE = dict(audio_s=4.9298125, language="Chinese", cer=6.8, wer=None)
HOURS = dict(audio_s=5.8541875, language="Chinese", cer=68 / 13, wer=None)
JFK = dict(audio_s=11.0, language="English", cer=None, wer=1.0)


def test_one_file_streams_its_text_then_zh_tw_and_figures(samples, tmp_path):
    proc = orch("transcribe", str(samples / "phone-zh.wav"), *FAST, "--json", str(tmp_path / "o.json"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"── {samples / 'phone-zh.wav'}, 4.9 s"
    assert lines[1] == CALIBRATION_TEXT
    assert lines[2] == f"zh-TW+ITN: {CALIBRATION_TEXT}"
    assert re.fullmatch(
        r"TTFT \d+ ms · RTF \d\.\d{3} · model load \d+ ms · CER 6\.800 \(against phone-zh\.txt\)", lines[3]
    )
    assert re.fullmatch(r"1 file, 4\.9 s of audio in \d+\.\d s \(RTF \d\.\d{3}\)", lines[4])
    assert len(lines) == 5
    (record,) = json.loads((tmp_path / "o.json").read_text(encoding="utf-8"))
    assert _timings_checked(record, loaded=True) == _expected(1, samples / "phone-zh.wav", **PHONE)


def test_a_folder_one_load_records_exactly_once_and_srt(samples, tmp_path):
    out = tmp_path / "out"
    out.mkdir()  # --srt makes its folder, never missing parents
    proc = orch(
        "transcribe",
        str(samples),
        *FAST,
        "--json",
        str(out / "o.json"),
        "--jsonl",
        str(out / "o.jsonl"),
        "--srt",
        str(out / "srt"),
    )
    assert proc.returncode == 0, proc.stderr
    headers = [line for line in proc.stdout.splitlines() if line.startswith("── ")]
    assert headers == [
        f"── [1/3] {samples / 'hours-zh.wav'}, 5.9 s",
        f"── [2/3] {samples / 'jfk.wav'}, 11.0 s",
        f"── [3/3] {samples / 'phone-zh.wav'}, 4.9 s",
    ]
    assert proc.stdout.count("zh-TW+ITN: ") == 2  # the two Chinese files, not JFK
    jsonl = [json.loads(line) for line in (out / "o.jsonl").read_text(encoding="utf-8").splitlines()]
    listed = json.loads((out / "o.json").read_text(encoding="utf-8"))
    assert jsonl == listed
    srt = {name: str(out / "srt" / f"{name}.srt") for name in ("hours-zh", "jfk", "phone-zh")}
    # one model load: the first file's record has it, the others none
    assert [_timings_checked(r, loaded=(r["index"] == 1)) for r in jsonl] == [
        _expected(1, samples / "hours-zh.wav", **HOURS, srt=srt["hours-zh"], alignment_violations=0),
        _expected(2, samples / "jfk.wav", **JFK, srt=srt["jfk"], alignment_violations=0),
        _expected(3, samples / "phone-zh.wav", **PHONE, srt=srt["phone-zh"], alignment_violations=0),
    ]
    # the calibration aligner: 0.3 s a word, 0.25 s long, the transcript's words in order
    cues = (out / "srt" / "jfk.srt").read_text(encoding="utf-8").split("\n\n")
    assert cues[0] == "1\n00:00:00,000 --> 00:00:00,250\ncalibration"
    assert cues[13] == "14\n00:00:03,900 --> 00:00:04,150\ntwelve"
    assert cues[14:] == [""]


NOT_UTF8 = b"ab\xffcd\n"


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "orch: cannot start: audio file not found: {d}/nope.wav"),
        (
            "not-audio",
            "orch: cannot start: not an audio file: {d}/notes.wav (ffprobe: {d}/notes.wav: Invalid data found when "
            "processing input)",
        ),
        (
            "reference-not-utf8",
            "orch: cannot start: reference {d}/a.txt is not UTF-8 text: byte 0xff at offset 2 (invalid start byte)",
        ),
        (
            "empty-dir",
            "orch: cannot start: no audio files in {d}/empty (looked for .wav, .flac, .mp3, .ogg, .opus, .m4a, .aac, .webm, .mp4)",
        ),
        ("no-files", "orch: cannot start: no audio given: orch transcribe FILE|DIR ..."),
        (
            "reference-with-two-files",
            "orch: cannot start: --reference takes one audio file, not 2: with several, X.txt beside each X.wav is used",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(case, message, samples, tmp_path):
    if case == "not-audio" and shutil.which("ffprobe") is None:
        pytest.skip("ffprobe (ffmpeg) not installed: a non-WAV file's content cannot be judged")
    d = tmp_path
    (d / "notes.wav").write_text("not audio\n")
    shutil.copy(samples / "jfk.wav", d / "a.wav")
    (d / "a.txt").write_bytes(NOT_UTF8)
    (d / "empty").mkdir()
    args = {
        "missing": [str(d / "nope.wav")],
        "not-audio": [str(d / "notes.wav")],
        "reference-not-utf8": [str(d / "a.wav")],
        "empty-dir": [str(d / "empty")],
        "no-files": [],
        "reference-with-two-files": [
            str(samples / "jfk.wav"),
            str(samples / "phone-zh.wav"),
            "--reference",
            str(samples / "jfk.txt"),
        ],
    }[case]
    proc = orch("transcribe", *args)
    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", message.format(d=d) + "\n")


def test_a_failed_file_is_exit_1_and_a_new_worker_takes_the_rest(samples, tmp_path):
    folder = tmp_path / "three"
    folder.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(samples / "jfk.wav", folder / f"{name}.wav")
    jsonl = tmp_path / "o.jsonl"
    proc = orch("transcribe", str(folder), *FAST, "--crash-at", "2", "--jsonl", str(jsonl))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == f"orch: {folder / 'b.wav'} failed: worker killed by SIGSEGV\n"
    assert proc.stdout.splitlines()[-1].endswith("; 1 failed: b.wav")
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [(r["index"], r["status"], r["error"]) for r in records] == [
        (1, "ok", None),
        (2, "failed", "worker killed by SIGSEGV"),
        (3, "ok", None),
    ]
    assert records[0]["load_ms"] is not None and records[2]["load_ms"] is not None  # loaded again for c.wav
    assert records[2]["text_raw"] == CALIBRATION_TEXT


def test_a_model_that_does_not_load_fails_every_file_once(samples, tmp_path):
    jsonl = tmp_path / "o.jsonl"
    # weights the host cannot map: the worker's load fails (MemoryError), no file is tried again
    proc = orch("transcribe", str(samples), "--model-mb", "100000000", "--jsonl", str(jsonl))
    assert proc.returncode == 1, proc.stderr
    why = "the model did not load: MemoryError: calibration: mapping 100000000.0 MB of weights failed"
    names = ("hours-zh", "jfk", "phone-zh")
    assert proc.stderr.splitlines() == [f"orch: {samples / n}.wav failed: {why}" for n in names]
    assert (
        proc.stdout.splitlines()[-1]
        == "3 files, 21.8 s of audio in 0.0 s; 3 failed: hours-zh.wav, jfk.wav, phone-zh.wav"
    )
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [(r["index"], r["status"], r["error"]) for r in records] == [(k, "failed", why) for k in (1, 2, 3)]


def _read_until(fd: int, stop: bytes, seen: bytearray, timeout: float = 60) -> None:
    """Read the process's output until `stop` has appeared (a deterministic signal from orch
    itself, not a sleep); `timeout` only bounds a broken test."""
    while stop not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        assert ready, f"waited {timeout} s for {stop!r}; saw {bytes(seen)!r}"
        data = os.read(fd, 4096)
        assert data, f"output ended before {stop!r}; saw {bytes(seen)!r}"
        seen += data


def test_ctrl_c_keeps_the_finished_files_records(samples, tmp_path):
    folder = tmp_path / "three"
    folder.mkdir()
    for name in ("a", "b", "c"):
        shutil.copy(samples / "jfk.wav", folder / f"{name}.wav")
    jsonl, listed = tmp_path / "o.jsonl", tmp_path / "o.json"
    # file 2 hangs in the engine: when file 1's figures line is out, file 1 is on disk and
    # file 2 is under way, whatever the host's speed
    proc = subprocess.Popen(
        ["orch", "transcribe", str(folder), *FAST, "--hang-at", "2", "--jsonl", str(jsonl), "--json", str(listed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None and proc.stderr is not None
        _read_until(proc.stdout.fileno(), b"TTFT ", bytearray())
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
        err = proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait()
    assert code == 130, err
    assert err == (f"orch: interrupted (Ctrl-C): 1 of 3 files done (a.wav); their records are in {jsonl}, {listed}\n")
    records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert [(r["index"], r["file"], r["status"]) for r in records] == [(1, str(folder / "a.wav"), "ok")]
    assert json.loads(listed.read_text(encoding="utf-8")) == records


def test_streaming_under_a_terminal_chunk_by_chunk(samples, tmp_path):
    """Under a pseudo-terminal: the first chunk is on the screen while the engine still holds
    the second (a minute away: --token-ms 60000), before the file's other lines; Ctrl-C then
    ends the line and keeps nothing half-done."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["orch", "transcribe", str(samples / "jfk.wav"), "--ttft-ms", "5", "--token-ms", "60000"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"calibration", seen)
        shown = bytes(seen).decode()
        # the header, then the first chunk, written and flushed the moment it came; no more
        assert shown.replace("\r\n", "\n").split("\n")[1:] == ["calibration"], shown
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
        try:
            _read_until(master, b"files done", seen, timeout=10)
        except OSError:  # EIO: the terminal's other end closed after the last byte was read
            pass
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    text = bytes(seen).decode().replace("\r\n", "\n")
    assert text.endswith("calibration\norch: interrupted (Ctrl-C): 0 of 1 files done\n"), text


def test_streaming_under_a_terminal_in_order_and_before_the_final_lines(samples):
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        ["orch", "transcribe", str(samples / "phone-zh.wav"), str(samples / "jfk.wav"), *FAST],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        start_new_session=True,
    )
    os.close(slave)
    seen = bytearray()
    try:
        _read_until(master, b"of audio in", seen)
        _read_until(master, b"\n", seen)  # the summary line's end
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
    text = bytes(seen).decode().replace("\r\n", "\n")
    # the progress bar (stderr is the terminal) is drawn and taken away before each file's text
    assert "[" + "." * 24 + "] 0/2 files, 0.0 s of audio" in text
    assert "[" + "#" * 12 + "." * 12 + "] 1/2 files, 4.9 s of audio" in text
    screen = re.sub(r"\r\x1b\[K\[[#.]+\] [^\r\n]*", "", text).replace("\r\x1b[K", "")
    lines = screen.splitlines()
    assert lines[:3] == [
        f"── [1/2] {samples / 'phone-zh.wav'}, 4.9 s",
        CALIBRATION_TEXT,
        f"zh-TW+ITN: {CALIBRATION_TEXT}",
    ]
    assert lines[4:6] == [f"── [2/2] {samples / 'jfk.wav'}, 11.0 s", CALIBRATION_TEXT]
    assert lines[6].startswith("TTFT ") and lines[7].startswith("2 files, 15.9 s of audio in ")


def test_the_docs_example_runs(shared):
    """docs/transcribe.md: the calibration example, run from the repository root."""
    section = (REPO / "docs" / "transcribe.md").read_text(encoding="utf-8")
    command, shown = re.search(r"```sh\n\$ (orch transcribe [^\n]+)\n(.*?)```", section, re.S).groups()
    argv = command.split()[1:]
    proc = orch(*argv, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    # every line the page shows, figures aside (they are measured)
    number = re.compile(r"\d+(\.\d+)?")
    assert [number.sub("N", line) for line in proc.stdout.splitlines()] == [
        number.sub("N", line) for line in shown.splitlines()
    ]
