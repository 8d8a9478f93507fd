"""Engine options on the command line, and the checks made before any worker starts
(so a missing model or audio file fails early and clearly, not inside a measured run)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import click

from orchestrator.chatllm_model import TEST_MODEL_MAX_NEW_TOKENS, ModelFileError, is_test_model, read_meta
from orchestrator.errors import OrchError, read_text_file
from orchestrator.hostinfo import AudioError, audio_seconds


def engine_option_decorators():
    return [
        # calibration engine
        click.option("--ttft-ms", type=float, default=None, help="calibration: time to first token (default 50)."),
        click.option("--token-ms", type=float, default=None, help="calibration: delay between tokens (default 10)."),
        click.option("--leak-mb", type=float, default=None, help="calibration: native heap leaked per inference call."),
        click.option("--leak-on-load-mb", type=float, default=None, help="calibration: native heap leaked per model load."),
        click.option("--leak-models", default=None, help="calibration: comma-separated model names the load leak applies to."),
        click.option("--model-mb", type=float, default=None, help="calibration: weights held while loaded (default 16)."),
        click.option("--load-ms", type=float, default=None, help="calibration: time a load takes (default 0)."),
        click.option("--crash-at", type=click.IntRange(1), default=None, help="calibration: SIGSEGV at this iteration."),
        click.option("--hang-at", type=click.IntRange(1), default=None, help="calibration: hang at this iteration."),
        # chatllm.cpp engine
        click.option("--chatllm-dir", envvar="CHATLLM_DIR", default="./chatllm.cpp", show_default=True,
                     help="chatllm.cpp checkout (env CHATLLM_DIR)."),
        click.option("--chatllm-main", default=None, help="chatllm.cpp `main` (default: <dir>/build/bin/main)."),
        click.option("--chatllm-lib", default=None, help="libchatllm.so (default: <dir>/bindings/libchatllm.so)."),
        click.option("--threads", type=int, default=None, help="chatllm: threads (-n)."),
        click.option("--ctx", type=int, default=None, help="chatllm: context length (-c)."),
        click.option("--max-new-tokens", type=int, default=None, help="chatllm: bound on the output length."),
        click.option("--engine-arg", "engine_args", multiple=True,
                     help="chatllm: extra argument passed through (repeatable), e.g. --engine-arg=--seed --engine-arg=1."),
    ]


CALIBRATION_KEYS = ("ttft_ms", "token_ms", "leak_mb", "leak_on_load_mb", "model_mb", "load_ms",
                    "crash_at", "hang_at")


def engine_options_from_cli(plan, kw) -> dict:
    if plan.engine == "calibration":
        opts = {k: kw[k] for k in CALIBRATION_KEYS if kw.get(k) is not None}
        if kw.get("leak_models"):
            opts["leak_models"] = [m for m in kw["leak_models"].split(",") if m]
        return opts
    from orchestrator.chatllm_paths import resolve  # only the chatllm engine needs it
    paths = resolve(kw.get("chatllm_dir"), kw.get("chatllm_main"), kw.get("chatllm_lib"))
    opts = {"chatllm_dir": paths.root, "main": paths.main, "lib": paths.lib,
            "engine_args": list(kw.get("engine_args") or ()), "commit": checkout_commit(paths.root),
            "aligner": plan.scenario == "align"}
    if plan.scenario != "align":
        # Qwen3-ASR needs a language, else it may answer `language None` and no text
        if not plan.language:
            plan.language, why = guess_language(plan)
            click.echo(f"note: --language not given: {plan.language} ({why})", err=True)
        opts["language"] = plan.language
    for key in ("threads", "ctx", "max_new_tokens"):
        if kw.get(key) is not None:
            opts[key] = kw[key]
    if "max_new_tokens" not in opts and any_test_model(plan.models):
        # random weights rarely emit the end token: unbounded, every request runs to the context limit
        opts["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
        click.echo(f"note: test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}",
                   err=True)
    return opts


def any_test_model(models) -> bool:
    for m in models:
        try:
            if is_test_model(read_meta(m)):
                return True
        except (ModelFileError, ValueError):
            pass  # preflight names it
    return False


def checkout_commit(root: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def guess_language(plan) -> tuple[str, str]:
    """(language, why) when --language is not given: Chinese when the reference transcript
    has CJK characters or the audio file's name says zh/cn/... (`phone-zh.wav`: a digits-only
    reference says nothing), else English."""
    from orchestrator.quality.pipeline import CHINESE_NAMES
    from orchestrator.quality.scoring import has_cjk

    ref = plan.reference or (os.path.splitext(plan.audio)[0] + ".txt" if plan.audio else None)
    try:
        text = open(ref, encoding="utf-8").read() if ref else ""
    except (OSError, ValueError):  # input_problems names it (UnicodeDecodeError is a ValueError)
        text = ""
    if has_cjk(text):
        return "Chinese", f"the reference {ref} is Chinese"
    stem = os.path.splitext(os.path.basename(plan.audio or ""))[0].lower()
    parts = set(re.split(r"[^a-z]+", stem))
    if parts & (CHINESE_NAMES | {"cn"}):
        return "Chinese", f"the audio file's name ({stem})"
    return "English", "no sign of Chinese in the reference or the file name"


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
                audio_seconds(plan.audio)
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
        from orchestrator.chatllm_paths import problems_for
        problems += problems_for(plan)
        if not os.path.isdir(plan.engine_options.get("chatllm_dir") or ""):
            # problems_for stops at a missing checkout; name the run's other pieces as well
            problems += _chatllm_inputs(plan)
    return problems


def _sidecar(audio: str | None) -> str | None:
    try:
        return str(Path(audio).with_suffix(".txt")) if audio else None  # as the runner finds it
    except ValueError:
        return None


def _chatllm_inputs(plan) -> list[str]:
    """The models, the audio and ffmpeg, as chatllm_paths.problems_for checks them once the
    checkout is there."""
    import shutil

    out = []
    if not plan.models:
        out.append("no model given: pass --model PATH (e.g. models/qwen3-asr-0.6b-q4_0.bin)")
    for m in plan.models:
        if not os.path.isfile(m):
            out.append(f"model file not found: {m}")
            continue
        try:
            read_meta(m)
        except ModelFileError as exc:
            out.append(str(exc))
    if not plan.audio:
        out.append("no audio given: pass --audio FILE.wav")
    if shutil.which("ffmpeg") is None:
        out.append("ffmpeg not found on PATH: chatllm.cpp decodes audio with it (apt-get install ffmpeg)")
    return out
