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
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (wave.Error, EOFError):
        pass
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
    return float(duration) if duration else None
