"""The transformers engine: Qwen3-ASR and Qwen3-ForcedAligner through Hugging Face
transformers on PyTorch (CPU), in process, the way users run them from Python.

Facts this code relies on (transformers 5.24.0, torch 2.13.0+cpu; setup.cfg's `transformers` extra):
- `models/qwen3_asr` has `Qwen3ASRForConditionalGeneration` (ASR), `Qwen3ASRForTokenClassification`
  (the forced aligner) and `Qwen3ASRProcessor`; they load a folder in transformers' layout
  (orchestrator/engines/transformers/convert.py makes one from orch's test-model folder).
- `processor.apply_transcription_request(audio, language=...)` builds the prompt; a given
  language is forced by prefilling `language <Name><asr_text>`, so the model generates only the
  transcript; without one it writes that framing itself (`clean_text` strips it).
- `generate(streamer=...)` calls `streamer.put(ids)` first with the prompt, then with every
  new token right after it is chosen, on the calling thread (generation/utils.py `StopCheck`;
  on CPU the stop check is never deferred), and `streamer.end()` at the end. So each token is
  decoded and stamped in this thread the moment it exists: no queue, no second thread.
- Every `generate` builds its own KV cache (DynamicCache) and drops it on return: the model
  object keeps no conversation between requests.
- The aligner does not generate: one forward pass gives a timestamp class per `<timestamp>`
  marker (`processor.prepare_forced_aligner_inputs` / `decode_forced_alignment`). Its answer
  arrives whole, so the record says `streamed: false` and its TTFT is its latency.
- transformers ships no command-line program for this: `cli` and `cli-interactive` are not
  available (the base class says so).

Options (engine_options): threads (torch.set_num_threads), max_new_tokens (default: 32 for an
orch test model, which rarely emits its end token, else the folder's generation_config),
dtype (auto: as stored | float32 | bfloat16 | float16), aligner (scenario align: the model
must be the aligner). The effective thread settings are in `info()`.
"""

from __future__ import annotations

import gc
import json
import os
import re
import time
from collections.abc import Callable
from typing import Any

from workers.engines.audio_input import read_audio
from workers.engines.base import Engine, EngineError, Request
from workers.engines.chatllm import strip_framing  # Qwen3-ASR's own `language X<asr_text>` framing

# the same default orch's parent gives a chatllm.cpp test model
# (orchestrator/engines/chatllm/model_file.py TEST_MODEL_MAX_NEW_TOKENS; the worker imports nothing from there)
TEST_MODEL_MAX_NEW_TOKENS = 32
DTYPES = ("auto", "float32", "bfloat16", "float16")
ALIGNER_ARCH = "Qwen3ASRForTokenClassification"
LAZY_NAMES = (
    "AutoProcessor",
    "Qwen3ASRProcessor",
    "Qwen3ASRFeatureExtractor",
    "Qwen2Tokenizer",
    "Qwen3ASRForConditionalGeneration",
    "Qwen3ASRForTokenClassification",
)
# a byte-level BPE token can end inside a UTF-8 character; its text then ends in U+FFFD until
# the next tokens complete it (at most 4 bytes)
INCOMPLETE = "\ufffd"
MAX_HELD = 4


class TokenStream:
    """generate()'s streamer: decodes each new token as it comes and hands its text on at
    once. The end tokens are not text (chatllm.cpp does not stream them either); a token that
    ends inside a UTF-8 character waits for the rest of it. Duck-typed `put`/`end`, which is
    all generate() calls."""

    def __init__(self, decode: Callable[[list[int]], str], stop_ids: set[int], on_text: Callable[[str], None]):
        self.decode = decode
        self.stop_ids = stop_ids
        self.on_text = on_text
        self.prompt_seen = False
        self.held: list[int] = []
        self.ids: list[int] = []  # every generated id, end tokens included
        self.t_first_id: float | None = None  # when the first new token was handed over

    def put(self, value) -> None:
        if not self.prompt_seen:  # generate() puts the prompt first
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():  # batch of one: one id per step
            if self.t_first_id is None:
                self.t_first_id = time.monotonic()
            self.ids.append(token)
            if token in self.stop_ids:
                continue
            self.held.append(token)
            text = self.decode(self.held)
            if text.endswith(INCOMPLETE) and len(self.held) < MAX_HELD:
                continue
            self.held = []
            if text:
                self.on_text(text)

    def end(self) -> None:
        if self.held:
            text, self.held = self.decode(self.held), []
            if text:
                self.on_text(text)


_PARALLEL = re.compile(r"^\s*([A-Za-z_:]+(?:\(\))?)\s*:\s*(.+?)\s*$")


def parallel_settings(text: str) -> dict[str, str]:
    """`torch.__config__.parallel_info()` as a map: at::get_num_threads(), omp_get_max_threads(),
    mkl_get_max_threads(), OMP_NUM_THREADS, MKL_NUM_THREADS, the parallel backend."""
    out = {}
    for line in text.splitlines():
        if line.startswith("ATen parallel backend:"):
            out["backend"] = line.split(":", 1)[1].strip()
            continue
        m = _PARALLEL.match(line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


class TransformersEngine(Engine):
    name = "transformers"
    takes_prefix = True  # with a language given (prefix_taken): orch stream's start of the answer

    def __init__(self, options: dict):
        super().__init__(options)
        dtype = options.get("dtype") or "auto"
        if dtype not in DTYPES:
            raise EngineError("bad_option", f"transformers engine: dtype {dtype!r}, choose from {', '.join(DTYPES)}")
        self.dtype_name = dtype
        if options.get("destroy_on_unload"):
            # Python has no destroy for a torch model: dropping it (`recreate`) is all there is
            raise EngineError("unsupported", "transformers has no destroy call: recreate-destroy would be recreate")
        # imported here, before `ready`, so a load's time is the model's, not the ~10 s import's
        t0 = time.monotonic()
        try:
            import torch
            import transformers
        except ImportError as exc:
            raise EngineError(
                "missing_runtime",
                f"the transformers engine needs torch and transformers ({exc.name} is missing): "
                "pip install -e '.[transformers]'",
            ) from None
        # transformers imports a model's code on first use of its name: do it now as well, or the
        # first load would carry seconds of imports that a re-created model does not
        for name in LAZY_NAMES:
            getattr(transformers, name)
        self.import_ms = round((time.monotonic() - t0) * 1000, 1)
        self.torch: Any = torch
        self.tf: Any = transformers
        transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bars in the worker log
        if options.get("threads"):
            torch.set_num_threads(int(options["threads"]))
        self.model: Any = None
        self.processor: Any = None
        self.folder: str | None = None
        self.aligner = False
        self.test_model = False
        self.max_new_tokens: int | None = None
        self.stop_ids: set[int] = set()
        self._last: dict[str, Any] = {}  # the last request's facts and stamps
        self._load_split: dict[str, float] | None = None  # the last load's parts, until reported

    # ------------------------------------------------------------ model object
    def load(self, model: str | None) -> None:
        if not model:
            raise EngineError("load_failed", "the transformers engine needs --model (a model folder)")
        config = self._read_config(model)
        self.aligner = ALIGNER_ARCH in (config.get("architectures") or [])
        if bool(self.options.get("aligner")) != self.aligner:
            want = "the forced aligner" if self.options.get("aligner") else "an ASR model"
            raise EngineError("load_failed", f"{model} is not {want} ({config.get('architectures')})")
        self.test_model = "orch_tiny_model" in config
        tf = self.tf
        cls = tf.Qwen3ASRForTokenClassification if self.aligner else tf.Qwen3ASRForConditionalGeneration
        dtype = "auto" if self.dtype_name == "auto" else getattr(self.torch, self.dtype_name)
        try:
            # the processor (tokenizer + feature extractor) belongs to the model: made and dropped with it
            t0 = time.monotonic()
            self.processor = tf.AutoProcessor.from_pretrained(model, local_files_only=True)
            t1 = time.monotonic()
            self.model = cls.from_pretrained(model, dtype=dtype, local_files_only=True).eval()
            # reported with the next request (as load_ms is): on a tiny model the tokenizer is most of a load
            self._load_split = {"processor_ms": _ms(t0, t1), "model_ms": _ms(t1, time.monotonic())}
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            self.processor = self.model = None
            raise EngineError("load_failed", f"transformers could not load {model}: {exc}") from None
        self.folder = model
        generation = getattr(self.model, "generation_config", None)
        eos = getattr(generation, "eos_token_id", None) if generation is not None else None
        self.stop_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        self.max_new_tokens = self._max_new_tokens(generation)

    def _read_config(self, model: str) -> dict:
        path = os.path.join(model, "config.json")
        if not os.path.isdir(model):
            raise EngineError("load_failed", f"the transformers engine takes a model folder, not a file: {model}")
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except OSError:
            raise EngineError("load_failed", f"no config.json in {model}: not a transformers model folder") from None
        except ValueError:
            raise EngineError("load_failed", f"{path} is not JSON") from None

    def _max_new_tokens(self, generation) -> int | None:
        if self.options.get("max_new_tokens"):
            return int(self.options["max_new_tokens"])
        if self.test_model:
            return TEST_MODEL_MAX_NEW_TOKENS
        return getattr(generation, "max_new_tokens", None)

    def restart(self) -> None:
        # What `restart` means here: keep the model and processor objects, forget the request.
        # transformers keeps no conversation in the model (each generate() makes and drops its
        # own KV cache), so the only per-request state is this engine's record of the last one.
        self._last = {}

    def unload(self) -> None:
        # dropping the objects is all Python offers (no destroy); gc collects the cycles
        # torch modules make, so what stays after it is really kept
        self.model = None
        self.processor = None
        self.folder = None
        self._last = {}
        self._load_split = None
        gc.collect()

    # ------------------------------------------------------------ requests
    def transcribe(self, request: Request, on_chunk: Callable[[str], None]) -> str:
        if self.model is None:
            raise EngineError("inference_failed", "transformers: transcribe before load")
        if not request.audio:
            raise EngineError("no_audio", "the transformers engine needs --audio")
        t_request = time.monotonic()
        audio = read_audio(request.audio)
        t_audio = time.monotonic()
        if self.aligner:
            return self._align(request, audio, on_chunk, t_request, t_audio)
        try:
            inputs = self.processor.apply_transcription_request(audio, language=request.language)
        except ValueError as exc:  # an unknown language, say
            raise EngineError("bad_input", f"transformers: {exc}") from None
        prefix = request.prefix or ""
        if prefix:  # the start of the answer (orch stream): after the forced `language X<asr_text>`
            inputs = self._with_prefix(inputs, prefix)
        t_inputs = time.monotonic()
        chunks: list[str] = [prefix]

        def emit(text: str) -> None:
            chunks.append(text)
            on_chunk(text)

        # special tokens kept: without a forced language the model writes `<asr_text>` itself
        stream = TokenStream(lambda ids: self.processor.decode(ids, skip_special_tokens=False), self.stop_ids, emit)
        with self.torch.inference_mode():
            self.model.generate(
                **inputs, do_sample=False, num_beams=1, max_new_tokens=self.max_new_tokens, streamer=stream
            )
        stopped = "end_token" if stream.ids and stream.ids[-1] in self.stop_ids else "max_new_tokens"
        self._last = {
            "stamps": (t_request, t_audio, t_inputs, stream.t_first_id),
            "facts": {
                "streamed": True,
                "prompt_tokens": int(inputs["input_ids"].shape[1]),
                "new_tokens": len(stream.ids),
                "max_new_tokens": self.max_new_tokens,
                "stopped_by": stopped,
            },
        }
        return "".join(chunks)

    def prefix_taken(self, request: Request) -> bool:
        """A start of the answer goes after the prompt's forced `language X<asr_text>`: only
        with a language given (without one the model writes that framing itself first)."""
        return bool(request.language) and not self.aligner

    def _with_prefix(self, inputs, prefix: str):
        """The prompt with the start of the answer's tokens appended (the model continues it)."""
        torch = self.torch
        ids = self.processor.tokenizer(prefix, add_special_tokens=False, return_tensors="pt")["input_ids"]
        out = dict(inputs)
        out["input_ids"] = torch.cat([inputs["input_ids"], ids.to(inputs["input_ids"].dtype)], dim=1)
        if "attention_mask" in inputs:
            ones = torch.ones_like(ids, dtype=inputs["attention_mask"].dtype)
            out["attention_mask"] = torch.cat([inputs["attention_mask"], ones], dim=1)
        return out

    def _align(self, request: Request, audio, on_chunk, t_request: float, t_audio: float) -> str:
        if not request.transcript:
            raise EngineError("bad_input", "the forced aligner needs a transcript")
        try:
            inputs, words = self.processor.prepare_forced_aligner_inputs(
                audio=audio, transcript=request.transcript, language=request.language
            )
        except ValueError as exc:  # a language the aligner does not have
            raise EngineError("bad_input", f"transformers: {exc}") from None
        t_inputs = time.monotonic()
        names = ("input_ids", "attention_mask", "input_features", "input_features_mask")
        with self.torch.inference_mode():
            logits = self.model(**{k: v for k, v in inputs.items() if k in names}).logits
        timed = self.processor.decode_forced_alignment(
            logits, inputs["input_ids"], words, self.model.config.timestamp_token_id
        )[0]
        # chatllm.cpp's `--set format json` form, which orch's alignment checks read
        text = json.dumps(
            [{"start": w["start_time"], "end": w["end_time"], "text": w["text"]} for w in timed], ensure_ascii=False
        )
        on_chunk(text)  # the whole answer at once: not streamed
        self._last = {
            "stamps": (t_request, t_audio, t_inputs, None),
            "facts": {"streamed": False, "prompt_tokens": int(inputs["input_ids"].shape[1]), "words": len(timed)},
        }
        return text

    def request_facts(self) -> dict:
        facts = dict(self._last.get("facts") or {})
        if self._load_split:
            facts["load_split_ms"], self._load_split = self._load_split, None
        return facts

    def ttft_phases(self, t_request: float, t_first: float | None) -> dict[str, float] | None:
        """The last request's TTFT in the order things happen (they add up to it):
        - audio_read_ms: reading (or ffmpeg-decoding) the audio;
        - features_ms: the processor: mel spectrogram, prompt and its tokens;
        - encode_prefill_ms: generate() up to the first new token chosen: audio encoder, LLM
          prefill, first argmax (the aligner: its whole forward pass and decoding);
        - first_token_text_ms: that token's decoding to text and its way to the stamp."""
        stamps = self._last.get("stamps")
        if not stamps or t_first is None:
            return None
        _t0, t_audio, t_inputs, t_first_id = stamps
        out = {"audio_read_ms": _ms(t_request, t_audio), "features_ms": _ms(t_audio, t_inputs)}
        if t_first_id is None:  # nothing generated (the aligner): the rest is one block
            out["encode_prefill_ms"] = _ms(t_inputs, t_first)
        else:
            out["encode_prefill_ms"] = _ms(t_inputs, t_first_id)
            out["first_token_text_ms"] = _ms(t_first_id, t_first)
        return out

    def clean_text(self, raw: str) -> str:
        return raw.strip() if self.aligner else strip_framing(raw)

    def info(self) -> dict:
        torch = self.torch
        return {
            "name": self.name,
            "torch": torch.__version__,
            "transformers": self.tf.__version__,
            "import_ms": self.import_ms,
            "dtype": self.dtype_name,
            "device": "cpu",
            "threads": {
                "asked": self.options.get("threads"),
                "torch_num_threads": torch.get_num_threads(),
                "torch_num_interop_threads": torch.get_num_interop_threads(),
                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                "MKL_NUM_THREADS": os.environ.get("MKL_NUM_THREADS"),
                "parallel_info": parallel_settings(torch.__config__.parallel_info()),
            },
        }


def _ms(a: float, b: float) -> float:
    return round((b - a) * 1000, 3)
