"""What a stream request (orch stream) asks of an engine beyond a whole file: the length of
the audio it covers (a WAV the parent wrote: the calibration engine's cost model reads it)
and the start of the answer to continue from (`Request.prefix`)."""

from __future__ import annotations

import wave


def wav_seconds(path: str | None) -> float:
    """The length of a WAV file in seconds; 0 when there is no file or it is no WAV."""
    if not path:
        return 0.0
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes() / float(w.getframerate())
    except (OSError, EOFError, wave.Error):
        return 0.0


def tokens_after_prefix(tokens: list[str], prefix: str | None) -> tuple[str, list[str]]:
    """Split an answer's tokens at a given start of the answer: (the prefix kept, the tokens
    still to generate). The prefix is kept as given when the tokens begin with it; otherwise
    (it is not the answer's start) it is kept and the answer's tokens past its length follow,
    as a model continuing from a forced start would go on."""
    if not prefix:
        return "", tokens
    done = ""
    for k, tok in enumerate(tokens):
        if len(done) >= len(prefix):
            return prefix, tokens[k:]
        done += tok
    return prefix, []
