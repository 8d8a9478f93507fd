"""The chatllm.cpp engine: Qwen3-ASR and Qwen3-ForcedAligner through the checkout's own
Python bindings (`bindings/chatllm.py` + `libchatllm.so`) in process, and through its `main`
executable for the command-line strategies — the way users run them.

Facts this code relies on (chatllm.cpp, 2026-08):
- `ChatLLM(lib, params)` loads at once; chunks arrive through `callback_print` on the
  calling thread while `chat()` runs, so each is stamped as it arrives.
- An ASR input through the bindings needs `--multimedia_file_tags {{ }}` and the input
  `{{audio:/path.wav}}`; `main` takes the audio path itself as the prompt.
- Qwen3-ASR needs `--set language <Language>`; its output is framed `language X<asr_text>…`.
- The aligner takes `--set format json` and the input `{{audio:…}} transcript`.
- `bindings/chatllm.py` imports `model_downloader` from `../scripts`, found through
  sys.argv[0]; we put that folder on sys.path instead.
- `chatllm.py` has no destroy: `LibChatLLM` keeps every `ChatLLM` in class-level dicts. So
  `recreate` drops the object the way users do (it is never freed: orch measures that), and
  `recreate-destroy` calls the C API's `chatllm_destroy` (which aborts on the 2026-08
  snapshot: orch reports that as a crash at destroy).
- Qwen3-ASR decodes its audio by running `ffmpeg` (src/audio_process.cpp `audio::load`:
  popen of `ffmpeg ... -f f32le -ac 1 -ar 16000 -`, found on PATH) while it encodes the
  user's turn, before `generate()`; then the mel spectrogram; then `generate()` starts
  chatllm's clock, runs the audio encoder (`before_generate`) and the LLM prefill, and stops
  the "prompt" clock at the first logits (models.cpp `generate`, `ModelPerfInfo`).
- `chatllm_show_statistics` prints that clock through the META callback, as `main` does
  for chat models (`timings: prompt eval time = X ms / N tokens ...`); the figures add up
  over the object's life (restart does not clear them). `main` prints none for ASR.

TTFT by phase (`extra.ttft_phases`): the worker puts a stamping `ffmpeg` first on PATH
(DecodeStamps: a bash script that notes $EPOCHREALTIME around the real ffmpeg and writes
the pair to a pipe the worker reads), so the decode is timed where chatllm runs it; the
in-process strategies add chatllm's own prompt clock (the difference of its statistics
before and after the request). See `phases_in_process` and `phases_program` for the names.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from workers.engines.base import CliInvocation, Engine, EngineError, Request

ASR_TEXT = "<asr_text>"
_FRAMING = re.compile(r"^\s*language\s+[^<\n]*<asr_text>", re.S)


def strip_framing(raw: str) -> str:
    """`language English<asr_text>And so…` -> `And so…` (raw text kept elsewhere)."""
    if ASR_TEXT in raw:
        return raw.split(ASR_TEXT, 1)[1].strip()
    return _FRAMING.sub("", raw).strip()


def _import_bindings(root: str):
    """Import the checkout's bindings/chatllm.py. Its helper scripts locate the checkout
    from sys.argv[0] (scripts/binding.py), as if run from inside it; we say so by pointing
    sys.argv[0] into its scripts folder while importing, and put both folders on sys.path."""
    for sub in ("scripts", "bindings"):
        path = os.path.join(root, sub)
        if path not in sys.path:
            sys.path.insert(0, path)
    saved = sys.argv[0]
    sys.argv[0] = os.path.join(root, "scripts", "orch-worker")
    try:
        import chatllm  # the checkout's bindings/chatllm.py (on sys.path above)
    finally:
        sys.argv[0] = saved
    return chatllm


# ------------------------------------------------------------------ TTFT by phase

_TIMING = re.compile(r"timings:\s*(prompt eval|eval) time\s*=\s*([0-9.]+) ms\s*/\s*(\d+) tokens")


@dataclass(frozen=True)
class Statistics:
    """chatllm.cpp's `show_stat` figures: the "prompt" clock runs from `generate()`'s start
    (audio encoder and LLM prefill included) to the first logits, "eval" the rest. They add
    up over an object's life; `minus` gives one request's share."""

    prompt_ms: float = 0.0
    prompt_tokens: int = 0
    eval_ms: float = 0.0
    eval_tokens: int = 0

    def minus(self, before: Statistics) -> Statistics:
        return Statistics(
            self.prompt_ms - before.prompt_ms,
            self.prompt_tokens - before.prompt_tokens,
            self.eval_ms - before.eval_ms,
            self.eval_tokens - before.eval_tokens,
        )


def parse_statistics(lines: Iterable[str]) -> Statistics | None:
    """The `timings:` lines of `chatllm_show_statistics` (or `main`'s block); None if absent."""
    found = {}
    for line in lines:
        for m in _TIMING.finditer(line):
            found[m.group(1)] = (float(m.group(2)), int(m.group(3)))
    if "prompt eval" not in found:
        return None
    p_ms, p_tok = found["prompt eval"]
    e_ms, e_tok = found.get("eval", (0.0, 0))
    return Statistics(p_ms, p_tok, e_ms, e_tok)


SHIM_NAME = "ffmpeg"
SHIM = """#!/bin/bash
# orch (workers/engines/chatllm.py DecodeStamps): run the real ffmpeg, and write when it
# started and ended (CLOCK_REALTIME seconds) to the worker's pipe, for TTFT by phase
s=$EPOCHREALTIME
"$ORCH_REAL_FFMPEG" "$@"
rc=$?
if [ -n "$ORCH_FFMPEG_STAMP_FD" ]; then
  printf 'ffmpeg %s %s %s\\n' "$s" "$EPOCHREALTIME" "$rc" 2>/dev/null >&"$ORCH_FFMPEG_STAMP_FD"
fi
exit $rc
"""


def shim_dir() -> str:
    """One folder per user holding the stamping script, written once and replaced only when
    its text changes (never one per worker: a worker that aborts cleans nothing up)."""
    folder = os.path.join(tempfile.gettempdir(), f"orch-ffmpeg-shim-{os.getuid()}")
    path = os.path.join(folder, SHIM_NAME)
    try:
        with open(path) as f:
            if f.read() == SHIM:
                return folder
    except OSError:
        pass
    os.makedirs(folder, mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(SHIM)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return folder


class DecodeStamps:
    """Times chatllm.cpp's ffmpeg runs where they happen: a stamping `ffmpeg` goes first on
    this process's PATH (so on its children's too: the library's popen and `main` use it), and
    its stamps come back through an inherited pipe. Costs one bash start per decode (~3 ms:
    `sh -c ffmpeg` on the sample, median of 15: 120.0 ms with it, 116.3 without)."""

    def __init__(self, environ=os.environ):
        self.available = False
        real = shutil.which("ffmpeg", path=environ.get("PATH"))
        bash = shutil.which("bash")
        if not real or not bash:
            return
        folder = shim_dir()
        if os.path.realpath(real) == os.path.realpath(os.path.join(folder, SHIM_NAME)):
            real = environ.get("ORCH_REAL_FFMPEG") or ""  # an inherited shim: keep its target
            if not real:
                return
        self._r, w = os.pipe()
        os.set_inheritable(w, True)
        fcntl.fcntl(self._r, fcntl.F_SETFL, fcntl.fcntl(self._r, fcntl.F_GETFL) | os.O_NONBLOCK)
        self._w = w
        self._buf = b""
        environ["ORCH_REAL_FFMPEG"] = real
        environ["ORCH_FFMPEG_STAMP_FD"] = str(w)
        environ["PATH"] = folder + os.pathsep + environ.get("PATH", "")
        self.available = True

    @property
    def fds(self) -> tuple[int, ...]:
        return (self._w,) if self.available else ()

    def take(self) -> list[tuple[float, float]]:
        """The (start, end) of every decode since the last call, on time.monotonic()'s clock."""
        if not self.available:
            return []
        while True:
            try:
                data = os.read(self._r, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            self._buf += data
        lines, _, self._buf = self._buf.rpartition(b"\n")
        offset = time.time() - time.monotonic()
        out = []
        for line in lines.decode("ascii", "replace").splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "ffmpeg":
                start, end = (float(p.replace(",", ".")) - offset for p in parts[1:3])
                out.append((start, end))
        return out


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 3)


def phases_in_process(
    t_request: float, t_first: float | None, decodes: list[tuple[float, float]], stats: Statistics | None
) -> dict[str, float] | None:
    """TTFT through the bindings, in the order things happen:
    - before_decode_ms: request -> ffmpeg started (the bindings' call, the prompt's parsing,
      sh + the stamping bash starting);
    - audio_decode_ms: ffmpeg's run (process start, decode, the library reading its output);
    - encode_prefill_ms: chatllm's own prompt clock: audio encoder + LLM prefill up to the
      first logits;
    - mel_and_first_token_ms: what is left of the TTFT: the mel spectrogram and tokenizing
      (between decode and generate()), sampling and detokenizing the first token and its way
      to Python's callback.
    The parts add up to the TTFT when all are known."""
    out: dict[str, float] = {}
    known = 0.0
    if decodes:
        out["before_decode_ms"] = _ms(t_request, decodes[0][0])
        out["audio_decode_ms"] = round(sum(_ms(s, e) for s, e in decodes), 3)
        known += out["before_decode_ms"] + out["audio_decode_ms"]
    if stats is not None:
        out["encode_prefill_ms"] = round(stats.prompt_ms, 3)
        known += stats.prompt_ms
    if t_first is not None and decodes and stats is not None:
        out["mel_and_first_token_ms"] = round(_ms(t_request, t_first) - known, 3)
    return out or None


def phases_program(
    t_start: float, t_first: float | None, decodes: list[tuple[float, float]], includes_load: bool
) -> dict[str, float] | None:
    """TTFT of the engine program (`main`), which prints no statistics for ASR:
    - start_load_ms (one-shot: t_start is the spawn): process start, model load, up to
      ffmpeg's start; before_decode_ms (interactive: t_start is the request written);
    - audio_decode_ms: ffmpeg's run;
    - after_decode_ms: mel spectrogram, audio encoder, prefill, first token, stdout pipe."""
    if not decodes:
        return None
    out = {
        "start_load_ms" if includes_load else "before_decode_ms": _ms(t_start, decodes[0][0]),
        "audio_decode_ms": round(sum(_ms(s, e) for s, e in decodes), 3),
    }
    if t_first is not None:
        out["after_decode_ms"] = _ms(decodes[-1][1], t_first)
    return out


MAIN_DONE = rb"(\n\n|\ntimings: +total time = [^\n]*\n)\Z"


def model_params(options: dict, model: str, aligner: bool, language: str | None) -> list[str]:
    params = ["-m", model]
    if options.get("threads"):
        params += ["-n", str(options["threads"])]
    if options.get("ctx"):
        params += ["-c", str(options["ctx"])]
    if options.get("max_new_tokens"):
        params += ["--max_new_tokens", str(options["max_new_tokens"])]
    if aligner:
        params += ["--set", "format", "json"]
    elif language:
        params += ["--set", "language", language]
    # the decoding the plan asked for (--sampling greedy), then the user's arguments, which win
    return params + list(options.get("decoding_args") or []) + list(options.get("engine_args") or [])


class ChatLLMEngine(Engine):
    name = "chatllm"
    # orch stream's start of the answer, through chatllm_set_ai_prefix, with a language given
    takes_prefix = True

    def __init__(self, options: dict):
        super().__init__(options)
        self.root: str | None = options.get("chatllm_dir")
        self.lib_path: str | None = options.get("lib")
        self.main_path: str | None = options.get("main")
        self._bindings: Any = None  # the checkout's bindings module, imported at the first load
        self._lib: Any = None  # its LibChatLLM
        self.chat: Any = None  # the bindings' Streaming object while a model is loaded
        self.model = None
        self._sink: Callable[[str], None] | None = None
        self.language = options.get("language")
        self.aligner = bool(options.get("aligner"))
        # TTFT by phase: orch sends the option (on by default: orchestrator/engines/chatllm/options.py)
        self.stamps = DecodeStamps() if options.get("ttft_phases") else None
        self._meta: list[str] | None = None  # META lines while statistics are asked for
        self._stats = Statistics()  # the object's statistics before the current request
        self.last_decodes: list[tuple[float, float]] = []
        self.last_stats: Statistics | None = None

    # ------------------------------------------------------------ in process
    def _library(self):
        if self._lib is None:
            root, lib_path = self._required("chatllm_dir", self.root), self._required("lib", self.lib_path)
            self._bindings = _import_bindings(root)
            self._lib = self._bindings.LibChatLLM(os.path.dirname(lib_path))
            self._lib._lib.chatllm_destroy.argtypes = [ctypes.c_void_p]
            self._lib._lib.chatllm_destroy.restype = ctypes.c_int
        return self._lib

    @staticmethod
    def _required(key: str, value: str | None) -> str:
        """A path the parent always resolves (orchestrator's plan); missing only in a hand-made config."""
        if not value:
            raise EngineError("bad_config", f"the chatllm engine's options lack {key!r}")
        return value

    def load(self, model):
        lib = self._library()
        engine = self
        bindings_chat: Any = self._bindings.ChatLLM  # a class from the checkout, known only at run time

        class Streaming(bindings_chat):
            def callback_print(self, s):  # one streamed chunk
                if engine._sink:
                    engine._sink(s)

            def callback_end(self):
                pass

            def callback_print_meta(self, s):
                if engine._meta is not None:
                    engine._meta.append(s)

        params = ["--multimedia_file_tags", "{{", "}}"] + model_params(self.options, model, self.aligner, self.language)
        try:
            self.chat = Streaming(lib, params)
        except Exception as exc:
            raise EngineError("load_failed", f"chatllm.cpp could not load {model}: {exc}") from None
        self.model = model
        self._stats = Statistics()  # a new object's clocks start at zero

    def transcribe(self, request: Request, on_chunk):
        if not request.audio:
            raise EngineError("no_audio", "chatllm engine needs --audio")
        self._language_for(request)
        tag = "{{audio:" + os.path.abspath(request.audio) + "}}"
        prompt = f"{tag} {request.transcript}" if request.transcript else tag
        chunks: list[str] = []
        # the start of the answer goes after the opening's `language X`; chatllm.cpp puts it
        # in the prompt and echoes it as the first chunk, which is not generated: not streamed
        ai_prefix = ASR_TEXT + request.prefix if request.prefix else None

        def sink(s):
            chunks.append(s)
            if not (ai_prefix is not None and len(chunks) == 1 and s == ai_prefix):
                on_chunk(s)

        self._sink = sink
        if self.stamps:
            self.stamps.take()  # nothing from before this request
        try:
            if ai_prefix is not None:
                self.chat.set_ai_prefix(ai_prefix)
            self.chat.chat(prompt)
        except Exception as exc:
            raise EngineError("inference_failed", f"chatllm.cpp failed on {request.audio}: {exc}") from None
        finally:
            self._sink = None
            if ai_prefix is not None and self.chat is not None:
                self.chat.set_ai_prefix("")
        self._request_stats()
        return "".join(chunks)

    def _language_for(self, request: Request) -> None:
        """chatllm.cpp takes the language when the model loads (`--set language`): a request
        in another one (orch transcribe guesses per file) re-loads the model in it."""
        if self.aligner or not request.language or request.language == self.language or self.model is None:
            return
        model, self.language = self.model, request.language
        self.chat = None
        gc.collect()
        self.load(model)

    def prefix_taken(self, request: Request) -> bool:
        """With a language: the opening ends at `language X`, and `<asr_text>` + the prefix
        follow it (without one the model writes the language itself first)."""
        return bool(self.language) and not self.aligner

    def _request_stats(self) -> None:
        """This request's share of chatllm's statistics and its ffmpeg stamps, kept for
        `ttft_phases` (asked after the answer, so outside the TTFT)."""
        self.last_decodes = self.stamps.take() if self.stamps else []
        self.last_stats = None
        if self.stamps is None:
            return
        self._meta = []
        try:
            self.chat.show_statistics()
            total = parse_statistics(self._meta)
        finally:
            self._meta = None
        if total is not None:
            self.last_stats, self._stats = total.minus(self._stats), total

    def ttft_phases(self, t_request: float, t_first: float | None) -> dict[str, float] | None:
        """The last request's TTFT by phase (see phases_in_process); None when off."""
        if self.stamps is None:
            return None
        return phases_in_process(t_request, t_first, self.last_decodes, self.last_stats)

    def program_ttft_phases(self, t_start: float, t_first: float | None, includes_load: bool):
        """The engine program's last run's TTFT by phase (see phases_program)."""
        if self.stamps is None:
            return None
        return phases_program(t_start, t_first, self.stamps.take(), includes_load)

    @property
    def program_pass_fds(self) -> tuple[int, ...]:
        """The stamps' pipe, for the engine program's Popen (which closes other descriptors)."""
        return self.stamps.fds if self.stamps else ()

    def program_started(self) -> None:
        """Called right before the engine program gets its request: earlier stamps are dropped."""
        if self.stamps:
            self.stamps.take()

    def restart(self):
        self.chat.restart()

    def unload(self):
        if self.chat is None:
            return
        if self.options.get("destroy_on_unload"):
            # the C API's destroy; on the 2026-08 snapshot this aborts (SIGABRT)
            self._lib._lib.chatllm_destroy(self.chat._chat)
        # the bindings' way: drop our reference (LibChatLLM keeps its own)
        self.chat = None
        gc.collect()

    def info(self):
        return {
            "name": self.name,
            "chatllm_dir": self.root,
            "lib": self.lib_path,
            "main": self.main_path,
            "commit": self.options.get("commit"),
        }

    # ------------------------------------------------------------ command line
    def cli_invocation(self, model, request, interactive=False):
        language = (request.language if request is not None else None) or self.language
        argv = [self._required("main", self.main_path)] + model_params(self.options, model, self.aligner, language)
        if interactive:
            if self.aligner:
                raise EngineError(
                    "unsupported",
                    "chatllm.cpp's interactive mode reads audio paths only; the aligner also needs a transcript",
                )
            return CliInvocation(argv=argv + ["-i"], prompt=b"File > ")
        if self.aligner:
            argv += [
                "--multimedia_file_tags",
                "{{",
                "}}",
                "-p",
                "{{audio:" + os.path.abspath(request.audio) + "}} " + (request.transcript or ""),
            ]
        else:
            argv += ["-p", os.path.abspath(request.audio)]
        # main ends an answer with a newline and then its statistics block: a blank line
        # (ASR), or the `timings:` lines (aligner)
        return CliInvocation(argv=argv, done_pattern=MAIN_DONE)

    def clean_text(self, raw):
        return strip_framing(raw) if not self.aligner else raw.strip()
