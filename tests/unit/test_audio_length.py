"""The audio's length is what is on disk: a WAV that is only its header (no frames) is
refused before the run, and a cut one is not the length its header promises (issue 18,
item 5: a 44-byte file recorded 4.93 s)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.run.audio import AudioError, audio_seconds


def _wav(path: Path, frames: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\0\0" * frames)
    return path


def _invoke(tmp: Path, argv: list[str]):
    return CliRunner().invoke(main, [a.replace("{tmp}", str(tmp)) for a in argv], prog_name="orch")


def test_a_wav_that_is_only_its_header_is_refused(isolated):
    header_only = _wav(isolated / "h.wav", 0)
    assert header_only.stat().st_size == 44
    res = _invoke(isolated, ["run", "--strategy", "restart", "--audio", "h.wav", "--no-history", "--out", "out"])
    assert (res.exit_code, res.stderr) == (
        2, "orch: cannot start: audio file h.wav has no audio: a WAV header with no frames after it\n")
    assert not (isolated / "out").exists()


def test_a_wav_cut_after_its_header_is_not_its_promised_length(tmp_path):
    """A header promising 4.93 s with no data after it (the issue's file: `head -c 44 x.wav`),
    and one cut after 1000 of its frames: the length is what is on disk."""
    full = _wav(tmp_path / "full.wav", 78877)
    assert audio_seconds(str(full)) == 78877 / 16000
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:44])
    with pytest.raises(AudioError, match="has no audio: a WAV header with no frames after it"):
        audio_seconds(str(cut))
    cut.write_bytes(full.read_bytes()[: 44 + 2000])
    assert audio_seconds(str(cut)) == 1000 / 16000
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioError, match="is empty"):
        audio_seconds(str(tmp_path / "empty.wav"))
