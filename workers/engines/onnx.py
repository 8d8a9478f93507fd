"""The onnx engine: Qwen3-ASR on ONNX Runtime through sherpa-onnx's offline recognizer, in
process, the way users run it from Python.

Facts this code relies on (sherpa-onnx 2.0.1; setup.cfg's `onnx` extra):
- `sherpa_onnx.OfflineRecognizer.from_qwen3_asr(conv_frontend, encoder, decoder, tokenizer,
  num_threads, max_total_len, max_new_tokens, temperature, top_p, seed)` loads the three
  graphs of github.com/Wasser1462/Qwen3-ASR-onnx's export and a tokenizer folder. The graphs
  run on the ONNX Runtime the wheel bundles (sherpa_onnx/lib/libonnxruntime.so, 1.28.2 in
  2.0.1), not on PyPI's onnxruntime; `num_threads` is its intra-op thread count.
- A request is an `OfflineStream`: `create_stream()`, `accept_waveform(16000, samples)` (the
  mel features are computed here), `decode_stream(stream)` (encoder, prefill and the whole
  greedy loop in C++), `stream.result.text`. There is no per-token callback: the answer
  arrives whole, so the record says `streamed: false` and TTFT is the latency.
- `stream.set_option("language", "Chinese")` forces the language by prefilling
  `language Chinese` after the prompt, as the official processor does.
- A temperature <= 1e-6 is argmax (greedy); sherpa-onnx's default (1e-6) already is.
  `--decoding sampled` gives temperature 1.0 with its top_p 0.8: the recognizer's random
  generator is seeded once (seed 42) at construction and advances per sampled token.
- Its C++ code reports on the process's stderr (fd 2), not by exception: "Result is truncated.
  max_new_tokens N is too small" when a request hits the bound, "decode collapsed into a
  repetition loop ... truncating" when its repetition guard stops one, "Truncating audio
  placeholders" when prompt + audio do not fit max_total_len. The engine captures fd 2 around
  each decode, keeps those lines out of the worker's log and records them with the request
  (`stopped_by`, `runtime_messages`). A full KV cache ends generation without a message, so a
  request with neither message says `end_token_or_cache_full`.
- Broken or missing files raise RuntimeError at construction (the process survives).
- The wheel's only program, `sherpa-onnx-cli`, has no recognizer (text2token only): no `cli`.

What `restart` means here: keep the recognizer (the loaded ONNX Runtime sessions and the
tokenizer), drop the last request's stream. Every request makes a new stream, and greedy
decoding keeps no state in the recognizer; the only state it carries across requests is the
sampling generator under `--decoding sampled`.

Options (engine_options): threads, precision (fp32 | int8: which graphs run), max_new_tokens
(default: 32 for an orch test model, else sherpa-onnx's 128), max_total_len (the export's KV
cache length, 512), decoding. OMP_NUM_THREADS and OPENBLAS_NUM_THREADS are set to the thread
count before the library loads (when not set already); the effective settings are in `info()`.
"""

from __future__ import annotations

import gc
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from workers.engines.audio_input import RATE, read_audio
from workers.engines.base import Engine, EngineError, Request
from workers.engines.chatllm import strip_framing  # Qwen3-ASR's own `language X<asr_text>` framing

# the same default orch's parent gives a test model (orchestrator/engines/onnx/plan.py)
TEST_MODEL_MAX_NEW_TOKENS = 32
SHERPA_MAX_NEW_TOKENS = 128  # from_qwen3_asr's default
MAX_TOTAL_LEN = 512  # the exporter's and from_qwen3_asr's default
PRECISIONS = {"fp32": "", "int8": ".int8"}  # file-name suffix of each precision's graphs
TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json")
GREEDY = {"temperature": 0.0, "top_p": 1.0}
SAMPLED = {"temperature": 1.0, "top_p": 0.8}
SEED = 42  # from_qwen3_asr's default

# what sherpa-onnx's lines mean for the request (a line starts with its source position)
STOPS = (
    ("Result is truncated", "max_new_tokens"),
    ("repetition loop", "repetition_guard"),
)
AUDIO_TRUNCATED = "Truncating audio placeholders"
_SOURCE_PREFIX = re.compile(r"^\S+\.cc:\S+:\d+\s+")


def stop_reason(lines: list[str]) -> str | None:
    """Why sherpa-onnx stopped a request, from its stderr lines (None: it said nothing)."""
    for marker, reason in STOPS:
        if any(marker in line for line in lines):
            return reason
    return None


def runtime_messages(lines: list[str]) -> list[str]:
    """The lines without their source position (`/project/.../x.cc:Fn:1034 `), each once."""
    return list(dict.fromkeys(_SOURCE_PREFIX.sub("", line).strip() for line in lines if line.strip()))


class StderrCapture:
    """Captures what the C++ library writes to fd 2 during a call, into one temporary file
    made once (reused per request, so a request costs two dup2 calls and a read)."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()

    def run(self, call: Callable[[], Any]) -> tuple[Any, list[str]]:
        sys.stderr.flush()
        self.file.seek(0)
        self.file.truncate()
        saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        try:
            value = call()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        self.file.seek(0)
        return value, self.file.read().decode("utf-8", "replace").splitlines()

    def close(self) -> None:
        self.file.close()


def onnxruntime_version(sherpa_onnx: Any) -> str | None:
    """The version string of the ONNX Runtime library sherpa-onnx runs on (its own copy)."""
    import ctypes

    path = os.path.join(os.path.dirname(sherpa_onnx.__file__), "lib", "libonnxruntime.so")
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    lib.OrtGetApiBase.restype = ctypes.POINTER(ctypes.c_void_p * 2)  # {GetApi, GetVersionString}
    get_version = ctypes.CFUNCTYPE(ctypes.c_char_p)(lib.OrtGetApiBase().contents[1])
    version = get_version()
    return version.decode() if version else None


class OnnxEngine(Engine):
    name = "onnx"

    def __init__(self, options: dict):
        super().__init__(options)
        self.precision = options.get("precision") or "fp32"
        if self.precision not in PRECISIONS:
            raise EngineError(
                "bad_option", f"onnx engine: precision {self.precision!r}, choose from {', '.join(PRECISIONS)}"
            )
        if options.get("destroy_on_unload"):
            raise EngineError(
                "unsupported", "sherpa-onnx has no destroy call in Python: recreate-destroy would be recreate"
            )
        decoding = options.get("decoding") or "greedy"
        if decoding not in ("greedy", "sampled"):
            raise EngineError("bad_option", f"onnx engine: decoding {decoding!r}, choose from greedy, sampled")
        self.decoding = decoding
        self.sampling = GREEDY if decoding == "greedy" else SAMPLED
        self.threads = int(options["threads"]) if options.get("threads") else None
        if self.threads:
            # before the library loads: OpenMP/OpenBLAS read these once (ORT's own pool takes num_threads)
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                os.environ.setdefault(var, str(self.threads))
        self.max_total_len = int(options.get("max_total_len") or MAX_TOTAL_LEN)
        # imported here, before `ready`, so a load's time is the model's
        t0 = time.monotonic()
        try:
            import sherpa_onnx
        except ImportError as exc:
            raise EngineError(
                "missing_runtime",
                f"the onnx engine needs sherpa-onnx ({exc.name} is missing): pip install -e '.[onnx]'",
            ) from None
        self.import_ms = round((time.monotonic() - t0) * 1000, 1)
        self.sherpa: Any = sherpa_onnx
        self.ort_version = onnxruntime_version(sherpa_onnx)
        self.capture = StderrCapture()
        self.recognizer: Any = None
        self.folder: str | None = None
        self.files: dict[str, str] = {}
        self.test_model = False
        self.max_new_tokens = SHERPA_MAX_NEW_TOKENS
        self.load_messages: list[str] = []
        self.load_threads: int | None = None  # the process's threads after the last load
        self._stream: Any = None  # the last request's stream (dropped by restart)
        self._last: dict[str, Any] = {}  # the last request's facts and stamps

    # ------------------------------------------------------------ model object
    def _files(self, model: str) -> dict[str, str]:
        if not os.path.isdir(model):
            raise EngineError("load_failed", f"the onnx engine takes a model folder, not a file: {model}")
        suffix = PRECISIONS[self.precision]
        graphs = {
            "conv_frontend": os.path.join(model, "conv_frontend.onnx"),
            "encoder": os.path.join(model, f"encoder{suffix}.onnx"),
            "decoder": os.path.join(model, f"decoder{suffix}.onnx"),
        }
        missing = [os.path.basename(p) for p in graphs.values() if not os.path.isfile(p)]
        if missing:
            raise EngineError(
                "load_failed", f"{model} has no {', '.join(missing)}: not a Qwen3-ASR ONNX export at {self.precision}"
            )
        for tokenizer in (model, os.path.join(model, "tokenizer")):
            if all(os.path.isfile(os.path.join(tokenizer, f)) for f in TOKENIZER_FILES):
                return {**graphs, "tokenizer": tokenizer}
        raise EngineError("load_failed", f"{model} has no tokenizer files ({', '.join(TOKENIZER_FILES)})")

    def _is_test_model(self, model: str) -> bool:
        try:
            with open(os.path.join(model, "config.json"), encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError):
            return False
        return isinstance(config, dict) and "orch_tiny_model" in config

    def load(self, model: str | None) -> None:
        if not model:
            raise EngineError("load_failed", "the onnx engine needs --model (a folder of ONNX files)")
        files = self._files(model)
        self.test_model = self._is_test_model(model)
        if self.options.get("max_new_tokens"):
            self.max_new_tokens = int(self.options["max_new_tokens"])
        else:
            self.max_new_tokens = TEST_MODEL_MAX_NEW_TOKENS if self.test_model else SHERPA_MAX_NEW_TOKENS

        def create() -> Any:
            return self.sherpa.OfflineRecognizer.from_qwen3_asr(
                **files,
                num_threads=self.threads or 1,
                max_total_len=self.max_total_len,
                max_new_tokens=self.max_new_tokens,
                seed=SEED,
                **self.sampling,
            )

        try:
            self.recognizer, lines = self.capture.run(create)
        except (RuntimeError, ValueError) as exc:
            self.recognizer = None
            raise EngineError("load_failed", f"sherpa-onnx could not load {model}: {exc}") from None
        self.load_messages = runtime_messages(lines)
        self.load_threads = _process_threads()  # ONNX Runtime's pool exists now
        self.folder = model
        self.files = files

    def restart(self) -> None:
        # keep the recognizer (ONNX Runtime sessions, tokenizer); forget the last request's stream
        self._stream = None
        self._last = {}

    def unload(self) -> None:
        # dropping the object is all Python offers (no destroy); its sessions go with it
        self.recognizer = None
        self._stream = None
        self.folder = None
        self._last = {}
        gc.collect()

    # ------------------------------------------------------------ requests
    def transcribe(self, request: Request, on_chunk: Callable[[str], None]) -> str:
        if self.recognizer is None:
            raise EngineError("inference_failed", "onnx: transcribe before load")
        if not request.audio:
            raise EngineError("no_audio", "the onnx engine needs --audio")
        t_request = time.monotonic()
        audio = read_audio(request.audio)
        t_audio = time.monotonic()
        stream = self.recognizer.create_stream()
        if request.language:
            stream.set_option("language", request.language)
        stream.accept_waveform(RATE, audio)
        t_features = time.monotonic()
        _, lines = self.capture.run(lambda: self.recognizer.decode_stream(stream))
        t_decoded = time.monotonic()
        result = stream.result
        text = result.text
        self._stream = stream
        tokens = len(result.tokens)
        stopped = stop_reason(lines) or (
            "max_new_tokens" if tokens >= self.max_new_tokens else "end_token_or_cache_full"
        )
        facts: dict[str, Any] = {
            "streamed": False,
            "result_tokens": tokens,
            "max_new_tokens": self.max_new_tokens,
            "stopped_by": stopped,
        }
        if any(AUDIO_TRUNCATED in line for line in lines):
            facts["audio_truncated"] = True
        messages = runtime_messages(lines)
        if messages:
            facts["runtime_messages"] = messages
        if self.load_messages:
            facts["load_messages"], self.load_messages = self.load_messages, []
        if self.load_threads is not None:  # reported with the first request after a load
            facts["process_threads_after_load"], self.load_threads = self.load_threads, None
            facts["graphs"] = {k: os.path.basename(v) for k, v in self.files.items() if k != "tokenizer"}
        self._last = {"stamps": (t_request, t_audio, t_features, t_decoded), "facts": facts}
        on_chunk(text)  # the whole answer at once: not streamed
        return text

    def request_facts(self) -> dict:
        return dict(self._last.get("facts") or {})

    def ttft_phases(self, t_request: float, t_first: float | None) -> dict[str, float] | None:
        """The last request's TTFT (= its latency: not streamed) in the order things happen:
        - audio_read_ms: reading (or ffmpeg-decoding) the audio;
        - features_ms: a new stream and its mel features (accept_waveform);
        - decode_ms: decode_stream: conv front-end, encoder, prefill and every decode step;
        - result_ms: the result's text to the stamp."""
        stamps = self._last.get("stamps")
        if not stamps or t_first is None:
            return None
        _t0, t_audio, t_features, t_decoded = stamps
        return {
            "audio_read_ms": _ms(t_request, t_audio),
            "features_ms": _ms(t_audio, t_features),
            "decode_ms": _ms(t_features, t_decoded),
            "result_ms": _ms(t_decoded, t_first),
        }

    def clean_text(self, raw: str) -> str:
        return strip_framing(raw)

    def info(self) -> dict:
        return {
            "name": self.name,
            "sherpa_onnx": getattr(self.sherpa, "__version__", None),
            "onnxruntime": self.ort_version,  # the library sherpa-onnx bundles and runs on
            "import_ms": self.import_ms,
            "precision": self.precision,
            "max_total_len": self.max_total_len,
            # None: decided at load (32 for an orch test model, else sherpa-onnx's 128); the
            # first request's facts say which graphs ran and the threads the load made
            "max_new_tokens": int(self.options["max_new_tokens"]) if self.options.get("max_new_tokens") else None,
            "decoding": {"method": self.decoding, **self.sampling, "seed": SEED},
            "device": "cpu",
            "threads": {
                "asked": self.options.get("threads"),
                "num_threads": self.threads or 1,  # ONNX Runtime intra-op threads
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
            },
        }


def _process_threads() -> int | None:
    """The worker's threads now (/proc/self/task): ONNX Runtime's pool shows here."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 3)
