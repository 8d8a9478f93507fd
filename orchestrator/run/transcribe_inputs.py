"""What `orch transcribe` is asked to do, checked before any worker starts: the audio files
(FILE or every audio file of a DIR), each one's length and reference, the engine's options
(resolved as `orch run` resolves them: RunPlan.build, greedy decoding by default), the aligner
for --srt and where the SRT, JSON and JSONL go. Every problem is named at once (CannotStart,
exit 2)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engines import decoding
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart, OrchError, read_text_file
from orchestrator.quality.pipeline import file_language
from orchestrator.run import worker_config
from orchestrator.run.audio import AudioError, audio_seconds
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs

# a folder's files taken as audio (a file named on the command line is judged by its content)
NO_MODEL = "no model given"  # an engine's pre-flight line when it needs a model and has none
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4")


@dataclass(frozen=True)
class AudioInput:
    path: str
    audio_s: float | None
    reference_file: str | None  # --reference, or X.txt beside X.wav
    reference: str | None  # its text
    language: str | None  # asked for, shown and scored in: --language or this file's own guess
    srt: str | None = None  # where its SRT goes (--srt)


@dataclass
class TranscribeRequest:
    """What the command line gave (None: not given)."""

    paths: list[str]
    engine: str = "calibration"
    model: str | None = None
    aligner_model: str | None = None
    language: str | None = None
    reference: str | None = None
    srt: str | None = None
    json_path: str | None = None
    jsonl_path: str | None = None
    iter_timeout: float = 120.0
    engine_options: dict[str, Any] = field(default_factory=dict)  # as `orch run` takes them


@dataclass
class TranscribeJob:
    inputs: list[AudioInput]
    engine: str
    model: str | None
    plan: RunPlan  # the ASR worker's plan (its config: orchestrator.run.worker_config)
    language: str | None  # --language as given (None: each engine's own, or the model's)
    aligner_model: str | None
    aligner_plan: RunPlan | None  # None: no --srt
    iter_timeout: float
    json_path: Path | None
    jsonl_path: Path | None


def audio_files(paths: list[str]) -> tuple[list[str], list[str]]:
    """(files, problems): each FILE as given, each DIR's audio files by name (not recursive)."""
    files, problems = [], []
    if not paths:
        problems.append("no audio given: orch transcribe FILE|DIR ...")
    for p in paths:
        if os.path.isdir(p):
            found = sorted(
                os.path.join(p, n)
                for n in os.listdir(p)
                if n.lower().endswith(AUDIO_SUFFIXES) and os.path.isfile(os.path.join(p, n))
            )
            if not found:
                problems.append(f"no audio files in {p} (looked for {', '.join(AUDIO_SUFFIXES)})")
            files += found
        elif not os.path.exists(p):
            problems.append(f"audio file not found: {p}")
        else:
            files.append(p)
    return files, problems


def _check_audio(path: str) -> tuple[float | None, str | None]:
    if not os.access(path, os.R_OK):
        return None, f"cannot read audio file {path}: permission denied"
    try:
        return audio_seconds(path), None
    except AudioError as exc:
        return None, str(exc)
    except (OSError, ValueError) as exc:
        return None, f"cannot read audio file {path}: {exc}"


def _reference(path: str, given: str | None) -> tuple[str | None, str | None, str | None]:
    """(reference file, its text, problem): --reference, else X.txt beside X.wav (the run's rule)."""
    from orchestrator.quality.pipeline import find_reference

    ref = find_reference(path, given)
    if not ref:
        return None, None, None
    if not os.path.exists(ref):
        return ref, None, f"reference file not found: {ref}"
    if os.path.isdir(ref):
        return ref, None, f"reference {ref} is a folder, not a file"
    try:
        return ref, read_text_file(ref, "reference").strip(), None
    except OrchError as exc:
        return ref, None, exc.message


def _srt_targets(files: list[str], srt: str) -> tuple[list[str], list[str]]:
    """One file: --srt PATH, or PATH/X.srt when PATH is a folder (an existing one, or a name
    ending in `/`); several: PATH is a folder. The folder itself is made when missing, its
    parents never: a missing parent is a problem (a typo, not a tree to create)."""
    folder = len(files) > 1 or os.path.isdir(srt) or srt.endswith(("/", os.sep))
    if os.path.exists(srt) and not os.path.isdir(srt) and folder:
        return [], [f"--srt {srt} is a file: with several audio files, --srt names a folder (one X.srt per X.wav)"]
    parent = os.path.dirname(os.path.abspath(srt.rstrip("/" + os.sep) or srt))
    if not os.path.isdir(parent):
        what = "the folder to write into" if folder else "the file"
        return [], [f"--srt {srt}: {parent} does not exist (make it first; orch makes only {what})"]
    if not folder:
        return [srt], []
    targets = [os.path.join(srt, Path(f).stem + ".srt") for f in files]
    clashes = sorted({t for t in targets if targets.count(t) > 1})
    problems = [f"--srt: two audio files would write {t} (same name in different folders)" for t in clashes]
    return targets, problems


def _plan(req: TranscribeRequest, scenario: str, model: str | None, audio: str, reference: str | None):
    """The engine's options resolved as `orch run` resolves them (chatllm.cpp's paths, the
    language asked for, a test model's bound on new tokens), with their notes and problems."""
    given = PlanInputs(
        strategies=["restart"],
        engine=req.engine,
        scenario=scenario,
        models=[model] if model else [],
        audio=audio,
        reference=reference,
        language=req.language if scenario == "asr" else None,
        iter_timeout=req.iter_timeout,
        engine_options=dict(req.engine_options),
    )
    plan, notes = RunPlan.build(given)
    problems = plan.validate(lambda key: "--" + key.replace("_", "-"))
    spec = engine_registry.REGISTRY.get(plan.engine)  # an unknown engine: validate() names it
    problems += spec.preflight_problems(plan) if spec else []
    return plan, notes, problems


def language_note(inputs: list[AudioInput]) -> str:
    """What was guessed for each file, in one line (docs/quality.md: per file)."""
    counts: dict[str, int] = {}
    for item in inputs:
        counts[item.language or "?"] = counts.get(item.language or "?", 0) + 1
    if len(inputs) == 1:
        return f"--language not given: {inputs[0].language} (guessed from {Path(inputs[0].path).name})"
    each = ", ".join(f"{lang} {n}" for lang, n in counts.items())
    return f"--language not given: guessed per file from its reference and name ({each})"


def prepare(req: TranscribeRequest) -> tuple[TranscribeJob, list[str]]:
    """The job and notes for the user; CannotStart naming every problem."""
    files, problems = audio_files(req.paths)
    if req.reference and len(files) > 1:
        problems.append(
            f"--reference takes one audio file, not {len(files)}: with several, X.txt beside each X.wav is used"
        )
    srt_targets: list[str | None] = [None] * len(files)
    if req.srt and files:
        targets, srt_problems = _srt_targets(files, req.srt)
        problems += srt_problems
        srt_targets = list(targets) or srt_targets
    for flag, value in (("--json", req.json_path), ("--jsonl", req.jsonl_path)):
        if value and os.path.isdir(value):
            problems.append(f"{flag} {value} is a folder, not a file")
    inputs = []
    for path, srt in zip(files, srt_targets, strict=True):
        audio_s, why = _check_audio(path)
        ref_file, ref_text, ref_why = _reference(path, req.reference)
        problems += [p for p in (why, ref_why) if p]
        language, _why = file_language(req.language, path, ref_file)  # per file: docs/quality.md
        inputs.append(AudioInput(path, audio_s, ref_file, ref_text, language, srt))
    first = files[0] if files else None
    plan, notes, plan_problems = _plan(req, "asr", req.model, first or "", req.reference)
    problems += [p for p in plan_problems if not p.startswith("no audio given")]
    aligner_plan = None
    if req.srt:
        aligner, aligner_notes, aligner_problems = _plan(req, "align", req.aligner_model, first or "", None)
        notes += [n for n in aligner_notes if n not in notes]
        for p in aligner_problems:
            if p.startswith(NO_MODEL):  # the engine needs a model: here, the aligner's
                problems.append(
                    "--srt needs the forced aligner: --aligner-model PATH (the engine's forced-aligner model)"
                )
            elif p not in plan_problems and not p.startswith("no audio given"):
                problems.append(p)
        aligner_plan = aligner
    if problems:
        raise CannotStart(list(dict.fromkeys(problems)))
    guessed = [n for n in notes if n.startswith("--language not given")]  # the engine's, for the first file
    if guessed and inputs:
        notes = [n for n in notes if n not in guessed] + [language_note(inputs)]
    told = decoding.told(worker_config.decoding_options(plan.engine, plan.decoding), plan.engine_options)
    if told:
        notes.append(f"{plan.decoding} decoding ({told}): the same audio gives the same text")
    job = TranscribeJob(
        inputs=inputs,
        engine=req.engine,
        model=req.model,
        plan=plan,
        language=req.language,
        aligner_model=req.aligner_model,
        aligner_plan=aligner_plan,
        iter_timeout=req.iter_timeout,
        json_path=Path(req.json_path) if req.json_path else None,
        jsonl_path=Path(req.jsonl_path) if req.jsonl_path else None,
    )
    return job, notes
