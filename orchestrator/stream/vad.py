"""Voice-activity detection for the `vad` policy: a frame detector (Silero VAD from the
`silero-vad` package, whose wheel ships its model, run through torch; else an energy
detector in orch) and a segmenter that closes a segment at a pause."""

from __future__ import annotations

import importlib.metadata

import numpy as np

FRAME = 512  # samples at 16 kHz: Silero's window (32 ms)
ENERGY_DBFS = -40.0  # the energy detector's speech threshold (frame RMS, dB of full scale)


class EnergyDetector:
    """Speech where a frame's RMS is over ENERGY_DBFS (a fallback: no noise model at all)."""

    name = f"energy (frame RMS over {ENERGY_DBFS:g} dBFS, orch's own)"

    def prob(self, frame: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64)))) if len(frame) else 0.0
        return 1.0 if rms > 0 and 20 * np.log10(rms) > ENERGY_DBFS else 0.0


class SileroDetector:
    """Silero VAD (the package's bundled silero_vad.jit, torch), one 512-sample frame at a time."""

    def __init__(self):
        import silero_vad  # the package's own loader: no download, the model is in the wheel
        import torch

        self.torch = torch
        self.model = silero_vad.load_silero_vad()
        self.model.reset_states()
        self.name = f"silero-vad {importlib.metadata.version('silero-vad')} (bundled silero_vad.jit, torch)"

    def prob(self, frame: np.ndarray) -> float:
        with self.torch.inference_mode():
            return float(self.model(self.torch.from_numpy(frame.astype(np.float32)), 16000).item())


def detector(kind: str):
    """`silero` (an ImportError when the package or torch is missing), `energy`, or `auto`:
    Silero when it loads, else energy."""
    if kind == "energy":
        return EnergyDetector()
    if kind == "silero":
        return SileroDetector()
    try:
        return SileroDetector()
    except ImportError:
        return EnergyDetector()


class Segmenter:
    """Speech segments from frames: one starts at a speech frame, and ends at the first
    pause of `min_silence_s` (or after `max_segment_s`); `pad_s` of audio kept either side."""

    def __init__(self, det, rate: int = 16000, threshold: float = 0.5, min_silence_s: float = 0.5,
                 min_speech_s: float = 0.25, pad_s: float = 0.1, max_segment_s: float = 20.0):  # fmt: skip
        self.det, self.rate, self.threshold = det, rate, threshold
        self.min_silence_s, self.min_speech_s, self.pad_s, self.max_segment_s = (
            min_silence_s,
            min_speech_s,
            pad_s,
            max_segment_s,
        )
        self._left = np.zeros(0, dtype=np.float32)
        self.pos = 0  # samples classified so far
        self.start: float | None = None  # the open segment's first speech frame
        self.last_speech = 0.0  # the end of the last speech frame

    def describe(self) -> dict:
        return {"vad": self.det.name, "min_silence_s": self.min_silence_s, "max_segment_s": self.max_segment_s}

    def feed(self, samples: np.ndarray) -> list[tuple[float, float]]:
        """The segments closed by these samples (int16), as (start_s, end_s)."""
        audio = np.concatenate([self._left, samples.astype(np.float32) / 32768.0])
        out = []
        n = len(audio) // FRAME
        for k in range(n):
            t0 = self.pos / self.rate
            self.pos += FRAME
            t1 = self.pos / self.rate
            if self.det.prob(audio[k * FRAME : (k + 1) * FRAME]) >= self.threshold:
                if self.start is None:
                    self.start = t0
                self.last_speech = t1
                if t1 - self.start >= self.max_segment_s:
                    out.append(self._close(t1))
            elif self.start is not None and t1 - self.last_speech >= self.min_silence_s:
                out.append(self._close(self.last_speech))
        self._left = audio[n * FRAME :]
        return [s for s in out if s is not None]

    def _close(self, end: float) -> tuple[float, float] | None:
        start, self.start = self.start, None
        assert start is not None
        if end - start < self.min_speech_s:
            return None
        return max(0.0, start - self.pad_s), min(self.pos / self.rate, end + self.pad_s)

    def flush(self) -> list[tuple[float, float]]:
        """End of stream: the open segment, if any."""
        if self.start is None:
            return []
        span = self._close(self.pos / self.rate)
        return [span] if span else []
