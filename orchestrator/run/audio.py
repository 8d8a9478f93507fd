"""The input audio's length in seconds (the real-time factor's denominator), read once per
run; AudioError when the file is missing or is no audio (preflight says so)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import wave


class AudioError(Exception):
    pass


def audio_seconds(path: str) -> float | None:
    """Length of an audio file in seconds; AudioError if it is missing or not audio.

    WAV is read directly; other formats through ffprobe (part of ffmpeg, which chatllm.cpp
    needs anyway). Without ffprobe a non-WAV file's length is unknown (None: no RTF)."""
    if not os.path.exists(path):
        raise AudioError(f"audio file not found: {path}")
    if os.path.getsize(path) == 0:
        raise AudioError(f"audio file {path} is empty")
    frames = _wav_frames(path)
    if frames is not None:
        count, rate = frames
        if count == 0:
            raise AudioError(f"audio file {path} has no audio: a WAV header with no frames after it")
        return count / float(rate)
    if not shutil.which("ffprobe"):
        return None
    proc = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=duration:format=duration",
            "-of",
            "json",
            path,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    info = json.loads(proc.stdout or "{}")
    if proc.returncode != 0 or not info.get("streams"):
        why = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "no audio stream"
        raise AudioError(f"not an audio file: {path} (ffprobe: {why})")
    duration = info["streams"][0].get("duration") or info.get("format", {}).get("duration")
    if duration is not None and float(duration) <= 0:
        raise AudioError(f"audio file {path} has no audio (ffprobe: duration {duration})")
    return float(duration) if duration else None


def _wav_frames(path: str) -> tuple[int, int] | None:
    """(frames, frame rate) of a WAV file, None if it is not one. The frames are those on
    disk: a header promises a data size (a file cut after its 44-byte header still says
    4.93 s), the file may hold fewer."""
    with open(path, "rb") as f:
        try:
            w = wave.open(f)
        except (wave.Error, EOFError):
            return None
        # wave.open stops at the start of the data chunk: what follows is the audio
        on_disk = os.fstat(f.fileno()).st_size - f.tell()
        frame_bytes = w.getsampwidth() * w.getnchannels()
        return min(w.getnframes(), max(0, on_disk) // frame_bytes), w.getframerate()
