"""Audio as the Python runtimes take it: 16 kHz mono float32 samples in [-1, 1).

A 16 kHz mono 16-bit WAV (the samples, what orch records) is read directly; anything else is
decoded by ffmpeg the way chatllm.cpp decodes every input (`-f f32le -ac 1 -ar 16000`), so
both engines hear the same samples. Reading happens inside the request, as chatllm.cpp's
decode does: it is part of the TTFT on every engine.
"""

from __future__ import annotations

import shutil
import subprocess
import wave

from workers.engines.base import EngineError

RATE = 16000


def read_audio(path: str):
    """The samples as a numpy float32 array; EngineError (`bad_audio`) when they cannot be had."""
    import numpy as np

    try:
        with wave.open(path, "rb") as w:
            if w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2:
                raw = w.readframes(w.getnframes())
                return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    except FileNotFoundError:
        raise EngineError("bad_audio", f"audio file not found: {path}") from None
    except (wave.Error, EOFError, OSError):
        pass  # not a plain WAV: ffmpeg's turn
    return _ffmpeg_decode(path)


def _ffmpeg_decode(path: str):
    import numpy as np

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise EngineError("bad_audio", f"{path} is not a 16 kHz mono 16-bit WAV and there is no ffmpeg to decode it")
    cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", path, "-f", "f32le", "-ac", "1", "-ar", str(RATE), "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0 or not proc.stdout:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise EngineError("bad_audio", f"ffmpeg could not decode {path}: {why[0]}")
    return np.frombuffer(proc.stdout, dtype="<f4").copy()
