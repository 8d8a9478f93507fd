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
"""

from __future__ import annotations

import ctypes
import gc
import os
import re
import sys
from typing import Callable

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
        import chatllm  # noqa: the checkout's bindings/chatllm.py
    finally:
        sys.argv[0] = saved
    return chatllm


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
    return params + list(options.get("engine_args") or [])


class ChatLLMEngine(Engine):
    name = "chatllm"

    def __init__(self, options: dict):
        super().__init__(options)
        self.root = options.get("chatllm_dir")
        self.lib_path = options.get("lib")
        self.main_path = options.get("main")
        self._bindings = None
        self._lib = None
        self.chat = None
        self.model = None
        self._sink: Callable[[str], None] | None = None
        self.language = options.get("language")
        self.aligner = bool(options.get("aligner"))

    # ------------------------------------------------------------ in process
    def _library(self):
        if self._lib is None:
            self._bindings = _import_bindings(self.root)
            self._lib = self._bindings.LibChatLLM(os.path.dirname(self.lib_path))
            self._lib._lib.chatllm_destroy.argtypes = [ctypes.c_void_p]
            self._lib._lib.chatllm_destroy.restype = ctypes.c_int
        return self._lib

    def load(self, model):
        lib = self._library()
        engine = self

        class Streaming(self._bindings.ChatLLM):
            def callback_print(self, s):  # one streamed chunk
                if engine._sink:
                    engine._sink(s)

            def callback_end(self):
                pass

            def callback_print_meta(self, s):
                pass

        params = ["--multimedia_file_tags", "{{", "}}"] + model_params(
            self.options, model, self.aligner, self.language)
        try:
            self.chat = Streaming(lib, params)
        except Exception as exc:
            raise EngineError("load_failed", f"chatllm.cpp could not load {model}: {exc}") from None
        self.model = model

    def transcribe(self, request: Request, on_chunk):
        if not request.audio:
            raise EngineError("no_audio", "chatllm engine needs --audio")
        tag = "{{audio:" + os.path.abspath(request.audio) + "}}"
        prompt = f"{tag} {request.transcript}" if request.transcript else tag
        chunks: list[str] = []

        def sink(s):
            chunks.append(s)
            on_chunk(s)

        self._sink = sink
        try:
            self.chat.chat(prompt)
        except Exception as exc:
            raise EngineError("inference_failed", f"chatllm.cpp failed on {request.audio}: {exc}") from None
        finally:
            self._sink = None
        return "".join(chunks)

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
        return {"name": self.name, "chatllm_dir": self.root, "lib": self.lib_path,
                "main": self.main_path, "commit": self.options.get("commit")}

    # ------------------------------------------------------------ command line
    def cli_invocation(self, model, request, interactive=False):
        argv = [self.main_path] + model_params(self.options, model, self.aligner, self.language)
        if interactive:
            if self.aligner:
                raise EngineError("unsupported", "chatllm.cpp's interactive mode reads audio paths only; "
                                                 "the aligner also needs a transcript")
            return CliInvocation(argv=argv + ["-i"], prompt=b"File > ")
        if self.aligner:
            argv += ["--multimedia_file_tags", "{{", "}}",
                     "-p", "{{audio:" + os.path.abspath(request.audio) + "}} " + (request.transcript or "")]
        else:
            argv += ["-p", os.path.abspath(request.audio)]
        # main ends an answer with a newline and then its statistics block: a blank line
        # (ASR), or the `timings:` lines (aligner)
        return CliInvocation(argv=argv, done_pattern=MAIN_DONE)

    def clean_text(self, raw):
        return strip_framing(raw) if not self.aligner else raw.strip()
