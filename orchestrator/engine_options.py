"""Engine options on the command line, and the checks made before any worker starts
(so a missing model or audio file fails early and clearly, not inside a measured run)."""

from __future__ import annotations

import os
import re
import subprocess

import click

from orchestrator.chatllm_model import TEST_MODEL_MAX_NEW_TOKENS, ModelFileError, is_test_model, read_meta
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
        except ModelFileError:
            pass  # preflight names it
    return False


def checkout_commit(root: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", root, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
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
    except OSError:
        text = ""
    if has_cjk(text):
        return "Chinese", f"the reference {ref} is Chinese"
    stem = os.path.splitext(os.path.basename(plan.audio or ""))[0].lower()
    parts = set(re.split(r"[^a-z]+", stem))
    if parts & (CHINESE_NAMES | {"cn"}):
        return "Chinese", f"the audio file's name ({stem})"
    return "English", "no sign of Chinese in the reference or the file name"


def preflight(plan) -> list[str]:
    """Everything that would make the run fail at once, one line each with the fix."""
    problems = []
    if plan.audio:
        try:
            audio_seconds(plan.audio)
        except AudioError as exc:
            problems.append(str(exc))
    if plan.engine == "chatllm":
        from orchestrator.chatllm_paths import problems_for
        problems += problems_for(plan)
    if plan.scenario == "align" and not plan.transcript_text():
        problems.append("--scenario align needs a transcript: --transcript FILE, or X.txt beside the audio X.wav")
    return problems
