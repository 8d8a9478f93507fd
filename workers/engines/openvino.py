"""The openvino engine: Qwen3-ASR through OpenVINO GenAI's `ASRPipeline` on the CPU plugin, in
process, the way users run it from Python.

Facts this code relies on (openvino / openvino-genai / openvino-tokenizers 2026.4.1; setup.cfg's
`openvino` extra):
- `openvino_genai.ASRPipeline(folder, "CPU", INFERENCE_NUM_THREADS=n)` loads a folder that
  optimum-intel exported (`optimum-cli export openvino --task automatic-speech-recognition-with-past`):
  openvino_{encoder,decoder}_model.xml/.bin and openvino_{tokenizer,detokenizer}.xml;
  orchestrator/engines/openvino/export.py makes one from orch's test-model folder.
- `generate(pcm, config, streamer)`: pcm is 16 kHz mono float32; `config.language` is the
  English name ("Chinese") and forces the language; `config.max_new_tokens` bounds the
  output; greedy is the generation config's default (`is_greedy_decoding()`), and this engine
  sets `do_sample = False`, `num_beams = 1` for --decoding greedy anyway (sampled: the folder's
  generation_config as it stands). The streamer is called on the calling
  thread with decoded text: whole words, not single tokens (GenAI's TextStreamer holds back a
  token until its word or UTF-8 character is complete), and each piece is stamped the moment
  it arrives, as the user of this API would see it. Its return value False means "go on".
- `result.perf_metrics` has GenAI's own timings (features, encoder, TTFT, tokens generated):
  the request's facts record them beside orch's own stamps.
- The model object keeps no conversation: the decoder is a stateful OpenVINO model whose KV
  cache lives in its infer request and is reset by every generate() (the same answer every
  request, tested). So `restart` keeps the pipeline and forgets only this engine's record of
  the last request.
- There is no destroy call: dropping the pipeline (`recreate`) is all Python offers; OpenVINO
  ships no command-line program for ASR in these wheels, so no `cli` strategy.
- No forced aligner: optimum-intel has no export of Qwen3-ForcedAligner for it.

Options (engine_options): threads (INFERENCE_NUM_THREADS of the CPU plugin; OMP_NUM_THREADS
and OPENBLAS_NUM_THREADS pinned to the same number unless the run sets them), max_new_tokens
(default: 32 for an orch test model, which rarely emits its end token, else the folder's
generation_config). The effective settings are in `info()`.
"""

from __future__ import annotations

import gc
import json
import os
import time
from collections.abc import Callable
from typing import Any

from workers.engines.audio_input import read_audio
from workers.engines.base import Engine, EngineError, Request
from workers.engines.chatllm import strip_framing  # Qwen3-ASR's own `language X<asr_text>` framing

# the same default orch's parent gives a chatllm.cpp test model (the worker imports nothing from orchestrator)
TEST_MODEL_MAX_NEW_TOKENS = 32
# what a folder ASRPipeline loads must have (the exported IR; the HF files are beside them)
NEEDED_FILES = (
    "openvino_encoder_model.xml",
    "openvino_decoder_model.xml",
    "openvino_tokenizer.xml",
    "openvino_detokenizer.xml",
    "config.json",
)
# thread pools OpenVINO's own libraries or their dependencies may start; pinned before import
PINNED_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class OpenVINOEngine(Engine):
    name = "openvino"

    def __init__(self, options: dict):
        super().__init__(options)
        if options.get("aligner"):
            raise EngineError("unsupported", "the openvino engine has no forced aligner (optimum-intel exports none)")
        if options.get("destroy_on_unload"):
            raise EngineError("unsupported", "ASRPipeline has no destroy call: recreate-destroy would be recreate")
        self.threads = int(options["threads"]) if options.get("threads") else None
        self.pinned: dict[str, str] = {}
        if self.threads:
            for name in PINNED_ENV:
                if name not in os.environ:  # a value the run passed (--worker-env) is kept and recorded
                    os.environ[name] = self.pinned[name] = str(self.threads)
        # imported here, before `ready`, so a load's time is the model's, not the import's
        t0 = time.monotonic()
        try:
            import openvino
            import openvino_genai
        except ImportError as exc:
            raise EngineError(
                "missing_runtime",
                f"the openvino engine needs openvino-genai ({exc.name} is missing): pip install -e '.[openvino]'",
            ) from None
        self.import_ms = round((time.monotonic() - t0) * 1000, 1)
        self.ov: Any = openvino
        self.genai: Any = openvino_genai
        self.pipeline: Any = None
        self.config: Any = None
        self.folder: str | None = None
        self.test_model = False
        self.max_new_tokens: int | None = None
        self._last: dict[str, Any] = {}

    # ------------------------------------------------------------ model object
    def load(self, model: str | None) -> None:
        if not model:
            raise EngineError("load_failed", "the openvino engine needs --model (an exported OpenVINO folder)")
        config = self._read_config(model)
        self.test_model = "orch_tiny_model" in config
        properties = {"INFERENCE_NUM_THREADS": self.threads} if self.threads else {}
        try:
            self.pipeline = self.genai.ASRPipeline(model, "CPU", **properties)
        except (RuntimeError, ValueError, TypeError) as exc:
            self.pipeline = None
            raise EngineError("load_failed", f"openvino could not load {model}: {_first_line(exc)}") from None
        generation = self.pipeline.get_generation_config()
        if self.options.get("decoding", "greedy") == "greedy":
            generation.do_sample = False
            generation.num_beams = 1
        # sampled: the folder's generation_config as it is (optimum writes greedy unless it says otherwise)
        self.max_new_tokens = self._max_new_tokens(generation)
        if self.max_new_tokens is not None:
            generation.max_new_tokens = self.max_new_tokens
        self.config = generation
        self.folder = model

    def _read_config(self, model: str) -> dict:
        if not os.path.exists(model):
            raise EngineError("load_failed", f"model folder not found: {model}")
        if not os.path.isdir(model):
            raise EngineError("load_failed", f"the openvino engine takes an exported model folder, not a file: {model}")
        missing = [f for f in NEEDED_FILES if not os.path.isfile(os.path.join(model, f))]
        if missing:
            raise EngineError(
                "load_failed",
                f"{model} is not an OpenVINO ASR export (no {', '.join(missing)}): orch make-test-models --runtime openvino",
            )
        path = os.path.join(model, "config.json")
        try:
            with open(path, encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError):
            raise EngineError("load_failed", f"{path} is not JSON") from None
        return config if isinstance(config, dict) else {}

    def _max_new_tokens(self, generation) -> int | None:
        if self.options.get("max_new_tokens"):
            return int(self.options["max_new_tokens"])
        if self.test_model:
            return TEST_MODEL_MAX_NEW_TOKENS
        value = generation.max_new_tokens
        return None if value >= 2**63 else int(value)  # SIZE_MAX: not set, the folder's max_length bounds it

    def restart(self) -> None:
        # What `restart` means here: keep the pipeline (compiled encoder and decoder, tokenizer),
        # forget the request. The decoder's KV cache is state of its infer request, reset by
        # every generate(); the only per-request state left is this engine's record of the last one.
        self._last = {}

    def unload(self) -> None:
        # dropping the pipeline is all Python offers (no destroy); gc so what stays is really kept
        self.pipeline = None
        self.config = None
        self.folder = None
        self._last = {}
        gc.collect()

    # ------------------------------------------------------------ requests
    def transcribe(self, request: Request, on_chunk: Callable[[str], None]) -> str:
        if self.pipeline is None:
            raise EngineError("inference_failed", "openvino: transcribe before load")
        if not request.audio:
            raise EngineError("no_audio", "the openvino engine needs --audio")
        t_request = time.monotonic()
        audio = read_audio(request.audio)
        t_audio = time.monotonic()
        self.config.language = request.language  # None: the model says the language itself
        chunks: list[str] = []

        def streamer(text: str) -> bool:
            chunks.append(text)
            on_chunk(text)
            return False  # go on (StreamingStatus.RUNNING)

        try:
            result = self.pipeline.generate(audio, self.config, streamer)
        except (RuntimeError, ValueError, TypeError) as exc:
            raise EngineError("inference_failed", f"openvino: {_first_line(exc)}") from None
        text = result.texts[0] if result.texts else ""
        if not chunks and text:  # nothing streamed (an empty answer has no chunk either)
            on_chunk(text)
        metrics = result.perf_metrics
        new_tokens = int(metrics.get_num_generated_tokens())
        self._last = {
            "stamps": (t_request, t_audio),
            "genai": {
                "features_ms": round(float(metrics.get_features_extraction_duration().mean), 3),
                "encode_ms": round(float(metrics.get_encode_inference_duration().mean), 3),
                "ttft_ms": round(float(metrics.get_ttft().mean), 3),
            },
            "facts": {
                "streamed": bool(chunks),
                "new_tokens": new_tokens,
                "max_new_tokens": self.max_new_tokens,
                # GenAI does not say why it stopped: the bound reached is the only sign
                "stopped_by": "max_new_tokens" if new_tokens == self.max_new_tokens else "end_token",
                "chunks": len(chunks),
                "greedy": bool(self.config.is_greedy_decoding()),  # the generation config GenAI ran with
            },
        }
        return "".join(chunks) if chunks else text

    def request_facts(self) -> dict:
        facts = dict(self._last.get("facts") or {})
        if self._last.get("genai"):
            facts["genai_perf_ms"] = dict(self._last["genai"])
        return facts

    def ttft_phases(self, t_request: float, t_first: float | None) -> dict[str, float] | None:
        """The last request's TTFT in the order things happen (they add up to it):
        - audio_read_ms: reading (or ffmpeg-decoding) the audio;
        - generate_to_first_chunk_ms: generate() up to the first streamed piece: features,
          encoder, prefill, the first token(s) until a word is complete (GenAI's own split of
          it is in the record's genai_perf_ms: features, encoder, its TTFT)."""
        stamps = self._last.get("stamps")
        if not stamps or t_first is None:
            return None
        _t0, t_audio = stamps
        return {"audio_read_ms": _ms(t_request, t_audio), "generate_to_first_chunk_ms": _ms(t_audio, t_first)}

    def clean_text(self, raw: str) -> str:
        return strip_framing(raw)

    def info(self) -> dict:
        import importlib.metadata

        def version(name: str) -> str | None:
            try:
                return importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                return None

        return {
            "name": self.name,
            "openvino": version("openvino"),
            "openvino_genai": version("openvino-genai"),
            "openvino_tokenizers": version("openvino-tokenizers"),
            "openvino_build": self.ov.__version__,
            "import_ms": self.import_ms,
            "device": "CPU",
            "decoding": self.options.get("decoding", "greedy"),
            "threads": {
                "asked": self.threads,
                # the CPU plugin's property, given at construction; absent: the plugin's own default
                "INFERENCE_NUM_THREADS": self.threads,
                "cpu_plugin_default": self._plugin_threads(),
                "pinned_by_engine": dict(self.pinned),
                **{name: os.environ.get(name) for name in PINNED_ENV},
            },
        }

    def _plugin_threads(self) -> int | None:
        """What the CPU plugin would use when not told (0 = all cores), for the record."""
        try:
            return int(self.ov.Core().get_property("CPU", "INFERENCE_NUM_THREADS"))
        except (RuntimeError, TypeError, ValueError):
            return None


def _first_line(exc: BaseException) -> str:
    """OpenVINO's message without its "Exception from src/...cpp:N:" trail (one line per C++ frame)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith("Exception from ")]
    return (said or lines or [type(exc).__name__])[0]


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 3)
