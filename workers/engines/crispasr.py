"""The crispasr engine: Qwen3-ASR GGUF files through CrispASR's Python session (PyPI `crispasr`,
a ggml wheel with its own OpenBLAS and libgomp), in process, the way users run it from Python.

Facts this code relies on (crispasr 0.8.45; setup.cfg's `crispasr` extra):
- `crispasr.Session(path, n_threads=N)` opens a GGUF file and picks the backend from its
  `general.architecture` (`qwen3asr` -> backend "qwen3"); a file it cannot open raises
  RuntimeError ("backend not supported"), whatever the reason (missing, not GGUF, cut short).
- `set_max_new_tokens(n)` bounds the output (the runtime's default is 512);
  `transcribe(pcm_f32_16k, language=L)` runs mel, audio encoder, prompt, prefill and the whole
  decode in one C call and returns segments. A language is forced as Qwen3-ASR's own
  `language <Name><asr_text>` prefill: CrispASR maps ISO codes to the English name and passes
  names through, so orch's "Chinese" gives the same prompt as on the other engines. The
  session drops that framing and the special tokens from the text (and collapses loops).
- Decoding is greedy unless a temperature is set: `set_temperature(0.0)` is greedy (the
  default), `--decoding sampled` sets 1.0 with a time-based seed (crispasr has no sampling
  default of its own for Qwen3-ASR).
- No per-token stream: `set_token_callback` exists, but for qwen3 it is called for every token
  after the decode has finished (measured: all 32 calls within 0.1 ms of transcribe's return),
  and the session's `stream_open` is audio streaming (re-decoding a growing window), not a
  token stream of one request. So the whole text is handed on once, `request_facts()` says
  `streamed: False`, and orch reports TTFT = latency, no tokens/s.
- Every transcribe resets the session's KV cache itself (it is sized per call): nothing of a
  request is left for the next one. `restart` keeps the Session object and clears this
  engine's record of the last request; that is all there is to reset.
- `Session.close()` is the runtime's destroy (crispasr_session_close); `unload` calls it and
  drops the object. Python's drop would call it too (`__del__`), so `recreate-destroy` would
  be `recreate`: not offered.
- Threads: `n_threads` is ggml's thread count for every graph; the wheel's OpenBLAS and
  libgomp read OPENBLAS_NUM_THREADS / OMP_NUM_THREADS when they load, so they are pinned to
  the same number before the library is opened (unless the worker's environment sets them).
  `info()` records what each library says it uses.
- The wheel ships no command-line program: `cli` and `cli-interactive` are not available
  (the base class says so).

Options (engine_options): threads, max_new_tokens (the parent sets 32 for an orch test model;
none: the runtime's 512), decoding (greedy | sampled).
"""

from __future__ import annotations

import ctypes
import gc
import importlib.metadata
import os
import time
from collections.abc import Callable
from typing import Any

from workers.engines.audio_input import read_audio
from workers.engines.base import Engine, EngineError, Request

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
SAMPLED_TEMPERATURE = 1.0


class CrispASREngine(Engine):
    name = "crispasr"

    def __init__(self, options: dict):
        super().__init__(options)
        if options.get("destroy_on_unload"):
            raise EngineError(
                "unsupported",
                "crispasr: Session.close() is its destroy and recreate calls it: recreate-destroy would be recreate",
            )
        self.decoding = options.get("decoding") or "greedy"
        if self.decoding not in ("greedy", "sampled"):
            raise EngineError("bad_option", f"crispasr engine: decoding {self.decoding!r}, choose greedy or sampled")
        threads = options.get("threads")
        # before the library loads: OpenBLAS and libgomp size their pools from these then
        self.pinned = {}
        for var in THREAD_VARIABLES:
            if threads and var not in os.environ:
                os.environ[var] = str(int(threads))
                self.pinned[var] = str(int(threads))
        t0 = time.monotonic()
        try:
            import crispasr
        except ImportError:
            raise EngineError(
                "missing_runtime", "the crispasr engine needs the crispasr wheel: pip install -e '.[crispasr]'"
            ) from None
        self.import_ms = round((time.monotonic() - t0) * 1000, 1)
        self.crispasr: Any = crispasr
        self.session: Any = None
        self.model: str | None = None
        self._last: dict[str, Any] = {}

    # ------------------------------------------------------------ model object
    def load(self, model: str | None) -> None:
        if not model:
            raise EngineError("load_failed", "the crispasr engine needs --model (a Qwen3-ASR GGUF file)")
        if os.path.isdir(model):
            raise EngineError("load_failed", f"the crispasr engine takes a GGUF file, not a folder: {model}")
        if not os.path.isfile(model):
            raise EngineError("load_failed", f"model file not found: {model}")
        kwargs = {"n_threads": int(self.options["threads"])} if self.options.get("threads") else {}
        try:
            session = self.crispasr.Session(model, **kwargs)
        except RuntimeError as exc:
            # the runtime says "backend not supported" for any file it cannot open
            raise EngineError(
                "load_failed", f"crispasr could not open {model}: {str(exc).split(' libcrispasr')[0]}"
            ) from None
        if session.backend != "qwen3":
            session.close()
            raise EngineError(
                "load_failed", f"{model} is a {session.backend!r} model for crispasr, not Qwen3-ASR (qwen3)"
            )
        try:
            if self.options.get("max_new_tokens"):
                session.set_max_new_tokens(int(self.options["max_new_tokens"]))
            if self.decoding == "sampled":
                session.set_temperature(SAMPLED_TEMPERATURE, seed=0)  # 0: a time-based seed
            else:
                session.set_temperature(0.0)
        except RuntimeError as exc:
            session.close()
            raise EngineError("load_failed", f"crispasr: {exc}") from None
        self.session = session
        self.model = model

    def restart(self) -> None:
        # What `restart` means here: keep the Session (its weights and buffers); every
        # transcribe resets the KV cache itself, so the only per-request state is this
        # engine's record of the last request.
        self._last = {}

    def unload(self) -> None:
        # Session.close() is crispasr_session_close, the runtime's destroy; then the object goes
        if self.session is not None:
            self.session.close()
        self.session = None
        self.model = None
        self._last = {}
        gc.collect()

    # ------------------------------------------------------------ requests
    def transcribe(self, request: Request, on_chunk: Callable[[str], None]) -> str:
        if self.session is None:
            raise EngineError("inference_failed", "crispasr: transcribe before load")
        if not request.audio:
            raise EngineError("no_audio", "the crispasr engine needs --audio")
        t_request = time.monotonic()
        audio = read_audio(request.audio)
        if not len(audio):
            raise EngineError("bad_audio", f"{request.audio} has no samples")
        t_audio = time.monotonic()
        try:
            segments = self.session.transcribe(audio, language=request.language or None)
        except (RuntimeError, ValueError) as exc:
            raise EngineError("inference_failed", f"crispasr: {exc}") from None
        t_done = time.monotonic()
        text = " ".join(s.text for s in segments if s.text)
        self._last = {
            "stamps": (t_request, t_audio, t_done),
            "facts": {
                "streamed": False,
                "segments": len(segments),
                # the tokens the session returns: its framing and special tokens left out
                "text_tokens": sum(len(s.tokens or []) for s in segments),
                "max_new_tokens": self.options.get("max_new_tokens"),
                "decoding": self.decoding,
            },
        }
        on_chunk(text)  # the whole answer at once: not streamed
        return text

    def request_facts(self) -> dict:
        return dict(self._last.get("facts") or {})

    def ttft_phases(self, t_request: float, t_first: float | None) -> dict[str, float] | None:
        """The last request's time to its one chunk (= its latency), in the order things happen:
        - audio_read_ms: reading (or ffmpeg-decoding) the audio;
        - transcribe_ms: Session.transcribe: mel, audio encoder, prefill and the whole decode;
        - text_ms: the segments joined and handed on."""
        stamps = self._last.get("stamps")
        if not stamps or t_first is None:
            return None
        _t0, t_audio, t_done = stamps
        return {
            "audio_read_ms": _ms(t_request, t_audio),
            "transcribe_ms": _ms(t_audio, t_done),
            "text_ms": _ms(t_done, t_first),
        }

    def info(self) -> dict:
        crispasr = self.crispasr
        try:
            version = importlib.metadata.version("crispasr")
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"
        return {
            "name": self.name,
            "crispasr": version,
            "c_api": _call(crispasr.c_api_version),
            "import_ms": self.import_ms,
            "decoding": self.decoding,
            "temperature": SAMPLED_TEMPERATURE if self.decoding == "sampled" else 0.0,
            "device": "cpu",
            "threads": {
                "asked": self.options.get("threads"),
                "ggml_n_threads": int(self.options["threads"])
                if self.options.get("threads")
                else "Session default (4)",
                "pinned_by_orch": dict(self.pinned),
                **{var: os.environ.get(var) for var in THREAD_VARIABLES},
                **library_threads(os.path.dirname(crispasr.__file__)),
            },
        }


def library_threads(folder: str) -> dict[str, Any]:
    """What the wheel's own OpenBLAS and libgomp say they use (the copies the session loads)."""
    out: dict[str, Any] = {}
    try:
        blas = ctypes.CDLL(os.path.join(folder, "libopenblas.so.0"))
        blas.openblas_get_num_threads.restype = ctypes.c_int
        out["openblas_num_threads"] = blas.openblas_get_num_threads()
        blas.openblas_get_config.restype = ctypes.c_char_p
        out["openblas_config"] = (blas.openblas_get_config() or b"").decode("utf-8", "replace").strip()
    except (OSError, AttributeError):
        out["openblas_num_threads"] = None
    try:
        gomp = ctypes.CDLL(os.path.join(folder, "libgomp.so.1"))
        gomp.omp_get_max_threads.restype = ctypes.c_int
        out["omp_max_threads"] = gomp.omp_get_max_threads()
    except (OSError, AttributeError):
        out["omp_max_threads"] = None
    return out


def _call(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # an older wheel without it: the record says so rather than failing
        return None


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 3)
