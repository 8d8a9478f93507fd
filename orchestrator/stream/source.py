"""The stream's audio: one file, a folder's files one after another with a pause between
them, or a long stream built by repeating the sample files. 16 kHz mono 16-bit WAV (what
orch's samples are); the spans where someone speaks (each file's) are kept for the
finalization latency (speaker stops -> final text)."""

from __future__ import annotations

import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RATE = 16000


class SourceError(Exception):
    """The audio cannot be streamed (one line, for the user)."""


@dataclass
class StreamAudio:
    samples: np.ndarray  # int16, RATE Hz, mono
    spans: list[tuple[float, float, str]] = field(default_factory=list)  # (start_s, end_s, file name)
    rate: int = RATE

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def cut(self, start_s: float, end_s: float) -> np.ndarray:
        return self.samples[int(round(start_s * self.rate)) : int(round(end_s * self.rate))]


def read_wav(path: str | Path) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV's samples; SourceError for anything else."""
    try:
        with wave.open(str(path), "rb") as w:
            shape = (w.getframerate(), w.getnchannels(), w.getsampwidth())
            data = w.readframes(w.getnframes())
    except (OSError, EOFError, wave.Error) as exc:
        raise SourceError(f"{path}: not a WAV file orch can stream ({exc})") from None
    if shape != (RATE, 1, 2):
        raise SourceError(
            f"{path}: {shape[0]} Hz, {shape[1]} channel(s), {8 * shape[2]}-bit: orch streams 16 kHz mono 16-bit "
            "WAV (ffmpeg -i IN -ar 16000 -ac 1 -c:a pcm_s16le OUT.wav)"
        )
    return np.frombuffer(data, dtype=np.int16)


def wav_files(path: str | Path) -> list[Path]:
    """A file, or a folder's .wav files in name order; SourceError when there are none."""
    p = Path(path)
    if not p.exists():
        raise SourceError(f"{p}: no such file or folder")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() == ".wav") if p.is_dir() else [p]
    if not files:
        raise SourceError(f"{p}: a folder with no .wav files")
    return files


def from_files(files: list[Path], pause_s: float) -> StreamAudio:
    """The files one after another, `pause_s` of silence after each but the last."""
    parts, spans, t = [], [], 0.0
    silence = np.zeros(int(round(pause_s * RATE)), dtype=np.int16)
    for k, f in enumerate(files):
        samples = read_wav(f)
        a, b = speech_bounds(samples)
        spans.append((t + a, t + b, f.name))
        parts.append(samples)
        t += len(samples) / RATE
        if k < len(files) - 1 and len(silence):
            parts.append(silence)
            t += pause_s
    return StreamAudio(np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16), spans)


SPEECH_DBFS = -45.0  # a 20 ms frame louder than this is taken for speech (the spans' ends)


def speech_bounds(samples: np.ndarray, frame: int = RATE // 50) -> tuple[float, float]:
    """Where a file's speech starts and ends (seconds): its first and last 20 ms frame over
    SPEECH_DBFS, so a file's leading and trailing silence is no part of its span (the
    speaker stops where the sound does). The whole file when no frame is that loud."""
    n = len(samples) // frame
    if n == 0:
        return 0.0, len(samples) / RATE
    frames = samples[: n * frame].astype(np.float64).reshape(n, frame) / 32768.0
    rms = np.sqrt(np.mean(frames**2, axis=1))
    loud = np.flatnonzero(rms > 10 ** (SPEECH_DBFS / 20))
    if len(loud) == 0:
        return 0.0, len(samples) / RATE
    return float(loud[0] * frame / RATE), float(min(len(samples), (loud[-1] + 1) * frame) / RATE)


def build(folder: str | Path, minutes: float, pause_s: float) -> StreamAudio:
    """A stream of at least `minutes` minutes: the folder's WAV files repeated in name order."""
    files = wav_files(folder)
    lengths = [len(read_wav(f)) / RATE for f in files]
    chosen: list[Path] = []
    total = 0.0
    while total < minutes * 60 or not chosen:
        k = len(chosen) % len(files)
        chosen.append(files[k])
        total += lengths[k] + pause_s
    return from_files(chosen, pause_s)


def write_wav(path: str | Path, samples: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.ascontiguousarray(samples, dtype=np.int16).tobytes())
