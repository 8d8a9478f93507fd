"""The checks made before any worker starts, so a missing model or audio file fails early
and clearly, not inside a measured run: every problem at once, one line each."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from orchestrator.engines.chatllm.paths import problems_for
from orchestrator.errors import OrchError, read_text_file
from orchestrator.run.audio import AudioError


def preflight(plan, label=lambda key: key) -> list[str]:
    """Everything that would make the run fail at once, one line each with the fix: the plan
    itself (RunPlan.validate), then its input files (input_problems). Empty: it can start."""
    return plan.validate(label) + input_problems(plan)


def input_problems(plan) -> list[str]:
    """The run's input files, every one checked (not only the first that is wrong): audio,
    reference and transcript exist and are readable, text is UTF-8 (a bad byte is named by
    its offset), and for chatllm.cpp the checkout, its built pieces, the models, ffmpeg."""
    problems = []
    if plan.audio:
        if os.path.isdir(plan.audio):
            problems.append(f"audio {plan.audio} is a folder, not a file")
        elif os.path.exists(plan.audio) and not os.access(plan.audio, os.R_OK):
            problems.append(f"cannot read audio file {plan.audio}: permission denied")
        else:
            try:
                _ = plan.audio_s  # read once: the run reuses it
            except AudioError as exc:
                problems.append(str(exc))
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                problems.append(f"cannot read audio file {plan.audio}: {exc}")
    sidecar = _sidecar(plan.audio)  # X.txt beside X.wav: the reference (or transcript) when none is given
    texts = []  # (what, path)
    if plan.reference:
        texts.append(("reference", plan.reference))
    elif sidecar and plan.scenario != "align" and os.path.isfile(sidecar):
        texts.append(("reference", sidecar))
    transcript = plan.transcript or (sidecar if sidecar and os.path.isfile(sidecar) else None)
    if plan.scenario == "align":
        if transcript:
            texts.append(("transcript", transcript))
        else:
            problems.append("--scenario align needs a transcript: --transcript FILE, or X.txt beside the audio X.wav")
    for what, path in texts:
        if not os.path.exists(path):
            problems.append(f"{what} file not found: {path}")
        elif os.path.isdir(path):
            problems.append(f"{what} {path} is a folder, not a file")
        else:
            try:
                text = read_text_file(path, what)
            except OrchError as exc:
                problems.append(exc.message)
            else:
                if what == "transcript" and not text.strip():
                    problems.append(f"transcript {path} is empty: --scenario align needs the words to align")
    if plan.engine == "chatllm":
        problems += problems_for(plan)  # the build's pieces and the run's inputs, every one
    return problems


def _sidecar(audio: str | None) -> str | None:
    try:
        return str(Path(audio).with_suffix(".txt")) if audio else None  # as the runner finds it
    except ValueError:
        return None
