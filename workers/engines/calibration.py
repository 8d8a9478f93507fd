"""The calibration engine: a real engine for proving the harness, not speech recognition.

It streams a given text token by token with a set time to first token and inter-token delay,
holds a "weights" mapping while loaded, and leaks real native heap on purpose
(allocated with libc malloc, every page touched, never freed) so that the harness can be
checked against known leaks. It can also crash (SIGSEGV) or hang at a chosen iteration.

Model labels are `NAME[:MB]`: MB is the size of the weights buffer (default `model_mb`).
Options (engine_options keys, every one sent by orch with its default filled in:
orchestrator/engines/calibration/options.py declares them and their defaults; the
command-line twin takes them as --dashed-flags):
  transcript, ttft_ms, token_ms, load_ms, model_mb, leak_mb (per inference call),
  leak_on_load_mb (per load), leak_models (labels the load leak applies to; default all),
  leak_threads, leak_fds, leak_maps (per call: threads never joined, descriptors never
  closed, maps never unmapped: what the resource figures must measure back exactly),
  decoy_mb (per call: allocated, never touched, never freed: requested but not resident),
  churn_mb (per call: allocated in 64 KiB blocks, touched, freed: memory the allocator may
  keep, in no live allocation) — the two things a leak attribution must not blame,
  crash_at, hang_at (1-based iteration),
  decoding (greedy: the same text every request; sampled: the words reordered per request,
  seeded by the iteration, so a sampled run is reproducible and its texts differ),
  drift_at (1-based iteration from which the text changes, as state carried over between
  requests would change it), drift_mode (text: another text; char: one character changed),
  encode_ms_per_s (orch stream's cost model: time before the first token per second of the
  request's audio, read from its WAV), audio_tokens_per_s (orch stream: when > 0 the answer is
  numbered words, this many per second of audio, word n spoken at (n - 1) / rate seconds of
  the stream: the request's audio from its `offset_s` on says which words it holds, so a
  stream's text grows with the audio and a window's text is the words in it; 0: the
  transcript).
It takes a start of the answer (`Request.prefix`): its words come at once, and only the
words after its last one at `token_ms` each.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable

from workers import libc
from workers.engines.base import CliInvocation, Engine, EngineError, Request
from workers.stream import tokens_after_prefix, wav_seconds

# the options and their kinds, no defaults: the parent sends every one (a test checks the
# names against the parent's dataclass); this order is the engine info's
OPTIONS: dict[str, type] = {
    "transcript": str,
    "ttft_ms": float,
    "token_ms": float,
    "load_ms": float,
    "model_mb": float,
    "leak_mb": float,
    "leak_on_load_mb": float,
    "leak_threads": int,
    "leak_fds": int,
    "leak_maps": int,
    "leak_models": list,  # of model names; None: every model
    "decoy_mb": float,
    "churn_mb": float,
    "crash_at": int,  # None: never
    "hang_at": int,  # None: never
    "drift_at": int,  # None: never
    "drift_mode": str,  # text | char
    "cache_speedup": float,  # None: none; else a repeated audio's times are scaled by this (a caching runtime)
    "encode_ms_per_s": float,
    "audio_tokens_per_s": float,
}

MiB = 1024 * 1024
_libc = libc.libc()  # no find_library: its `ldconfig -p` is a process, at import (workers.libc)
# The leak goes through the interpreter's PyMem_RawMalloc (plain malloc, no GIL, no debug
# hooks unless PYTHONMALLOC asks), not libc's malloc through a ctypes pointer: a native
# allocation tracer (memray) hooks the malloc *calls made from loaded libraries*, so only this
# way is the leak seen, and charged to `native_alloc` and its caller (orch attribute).
_raw_malloc = ctypes.pythonapi.PyMem_RawMalloc
_raw_malloc.restype = ctypes.c_void_p
_raw_malloc.argtypes = [ctypes.c_size_t]
_libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]


def native_alloc(mb: float) -> int | None:
    """malloc and touch every page, so the memory is resident (counted in RSS and USS)."""
    size = int(mb * MiB)
    if size <= 0:
        return None
    ptr = _raw_malloc(size)
    if not ptr:
        raise MemoryError(f"calibration: malloc of {mb} MB failed")
    _libc.memset(ptr, 1, size)
    return ptr


_raw_free = ctypes.pythonapi.PyMem_RawFree
_raw_free.restype = None
_raw_free.argtypes = [ctypes.c_void_p]


def decoy_alloc(mb: float) -> None:
    """malloc and never touch nor free: address space, not memory (an attribution that ranks
    by requested bytes would blame it)."""
    size = int(mb * MiB)
    if size > 0 and not _raw_malloc(size):
        raise MemoryError(f"calibration: malloc of {mb} MB (decoy) failed")


def churn_alloc(mb: float) -> None:
    """Touched 64 KiB blocks (under glibc's mmap threshold: from the heap), all freed."""
    block, ptrs = 64 * 1024, []
    for _ in range(int(mb * MiB) // (64 * 1024)):
        ptr = _raw_malloc(block)
        if not ptr:
            raise MemoryError("calibration: malloc (churn) failed")
        _libc.memset(ptr, 2, block)
        ptrs.append(ptr)
    for ptr in ptrs:
        _raw_free(ptr)


_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
PROT_RW, MAP_PRIVATE_ANON = 0x1 | 0x2, 0x02 | 0x20
MAP_FAILED = ctypes.c_void_p(-1).value


class Weights:
    """The model's weights: an anonymous mapping, touched, returned to the OS at unload (as
    a real engine's mapped or page-sized buffers are), so what an unload gives back is exact
    and a later leak cannot hide in memory the allocator kept."""

    def __init__(self, mb: float):
        self.size = int(mb * MiB)
        self.ptr = None
        if self.size > 0:
            ptr = _libc.mmap(None, self.size, PROT_RW, MAP_PRIVATE_ANON, -1, 0)
            if ptr in (None, MAP_FAILED):
                raise MemoryError(f"calibration: mapping {mb} MB of weights failed")
            _libc.memset(ptr, 1, self.size)
            self.ptr = ptr

    def release(self) -> None:
        if self.ptr:
            _libc.munmap(self.ptr, self.size)
            self.ptr = None


# what the resource leaks keep (a module's list: never freed, whatever the engine object does)
_KEPT: list = []
_FOREVER = threading.Event()
PAGE = os.sysconf("SC_PAGE_SIZE")
# leaked maps alternate read-only and no access: two neighbours never have the same
# protection, so the kernel cannot merge them into one map, and the interpreter's own
# anonymous maps (read+write) never merge into them
_MAP_PROTS = (mmap.PROT_READ, 0)
_MAPS: list = []


def leak_resources(threads: int, fds: int, maps: int) -> None:
    """Start `threads` threads that wait forever, open `fds` descriptors of /dev/null and make
    `maps` one-page anonymous maps, none ever released."""
    for _ in range(threads):
        t = threading.Thread(target=_FOREVER.wait, name="calibration-leak", daemon=True)
        t.start()
        _KEPT.append(t)
    for _ in range(fds):
        _KEPT.append(os.open(os.devnull, os.O_RDONLY))
    for _ in range(maps):
        _MAPS.append(mmap.mmap(-1, PAGE, flags=mmap.MAP_PRIVATE, prot=_MAP_PROTS[len(_MAPS) % 2]))


def parse_model(label: str | None, default_mb: float) -> tuple[str, float]:
    if not label:
        return "calibration", default_mb
    name, _, mb = label.partition(":")
    return name, float(mb) if mb else default_mb


def split_tokens(text: str) -> list[str]:
    """Words keep their leading space; CJK characters are one token each."""
    tokens: list[str] = []
    for n, word in enumerate(text.split(" ")):
        if not word:
            continue
        lead = " " if n else ""
        if any("\u4e00" <= ch <= "\u9fff" for ch in word):
            tokens.append(lead + word[0])
            tokens.extend(word[1:])
        else:
            tokens.append(lead + word)
    return tokens


def aligner_output(transcript: str) -> str:
    """A synthetic forced-alignment result in chatllm.cpp's JSON form (0.3 s per word)."""
    words = transcript.split()
    return json.dumps(
        [{"start": round(0.3 * k, 2), "end": round(0.3 * k + 0.25, 2), "text": w} for k, w in enumerate(words)],
        ensure_ascii=False,
    )


def sampled_text(text: str, i: int) -> str:
    """Sampled decoding: the words (or, in one word, the characters) in an order seeded by
    the iteration: the same iteration gives the same text, another iteration another."""
    words = text.split(" ")
    units, sep = (words, " ") if len(words) > 1 else (list(text), "")
    random.Random(i).shuffle(units)
    return sep.join(units)


def drifted_text(text: str, mode: str) -> str:
    """The text as a carried-over state would change it: `text` another text (the words in
    reverse order), `char` one character, the middle one, replaced by the next code point.
    Never the same text."""
    if mode == "char":
        middle = len(text) // 2
        k = next((j for j in range(middle, len(text)) if not text[j].isspace()), None)
        if k is None:
            return text + "."
        return text[:k] + chr(ord(text[k]) + 1) + text[k + 1 :]
    changed = " ".join(reversed(text.split(" ")))
    return changed if changed != text else text + " drift"


def audio_tokens(offset_s: float, audio_s: float, per_s: float) -> list[str]:
    """The words spoken in [offset_s, offset_s + audio_s) of a stream at `per_s` words a
    second: `w1 w2 ...` numbered from the stream's start (the first without its space)."""
    first = int(offset_s * per_s + 1e-9)
    last = int((offset_s + audio_s) * per_s + 1e-9)
    return [("" if n == first else " ") + f"w{n + 1}" for n in range(first, last)]


_LAST_WORD = re.compile(r"w(\d+)\s*$")


def words_after_prefix(tokens: list[str], prefix: str | None) -> tuple[str, list[str]]:
    """A start of the answer and the numbered words after its last one (a word's space kept)."""
    if not prefix:
        return "", tokens
    m = _LAST_WORD.search(prefix)
    if not m:
        return tokens_after_prefix(tokens, prefix)
    after = [t for t in tokens if int(t.strip()[1:]) > int(m.group(1))]
    return prefix, [" " + t.strip() for t in after]


class CalibrationModel:
    """Shared by the in-process engine and the command-line twin."""

    def __init__(self, options: dict):
        missing = [k for k in OPTIONS if k not in options]
        if missing:  # only a hand-made config: orch sends every option
            raise EngineError("bad_config", f"the calibration engine's options lack {', '.join(missing)}")
        extra = {k: v for k, v in options.items() if k not in OPTIONS and v is not None}
        self.o = {**{k: options[k] for k in OPTIONS}, **extra}
        self.weights: Weights | None = None
        self.model: str | None = None
        self.seen: set[str] = set()  # audio answered before (cache_speedup)

    def load(self, label: str | None) -> None:
        name, mb = parse_model(label, float(self.o["model_mb"]))
        if self.o["load_ms"]:
            time.sleep(float(self.o["load_ms"]) / 1000)
        self.weights = Weights(mb)
        leak_models = self.o["leak_models"]
        if leak_models is None or name in leak_models:
            native_alloc(float(self.o["leak_on_load_mb"]))  # leaked on purpose
        self.model = name

    def unload(self) -> None:
        if self.weights:
            self.weights.release()
        self.weights = None
        self.model = None

    def generate(self, request: Request, on_chunk: Callable[[str], None]) -> str:
        if self.model is None:
            raise RuntimeError("calibration: transcribe before load")
        t0 = time.monotonic()
        if self.o["crash_at"] is not None and request.i == int(self.o["crash_at"]):
            os.kill(os.getpid(), signal.SIGSEGV)  # a real crash, as a native bug would be
        if self.o["hang_at"] is not None and request.i == int(self.o["hang_at"]):
            while True:
                time.sleep(3600)
        native_alloc(float(self.o["leak_mb"]))  # leaked on purpose
        leak_resources(int(self.o["leak_threads"] or 0), int(self.o["leak_fds"] or 0), int(self.o["leak_maps"] or 0))
        decoy_alloc(float(self.o["decoy_mb"]))  # never touched: not resident
        churn_alloc(float(self.o["churn_mb"]))  # freed again
        text = aligner_output(request.transcript) if request.transcript else self.o["transcript"]
        if self.o.get("decoding", "greedy") == "sampled":  # given beside the options (engines/decoding.py)
            text = sampled_text(text, request.i)
        if self.o["drift_at"] is not None and request.i >= int(self.o["drift_at"]):
            text = drifted_text(text, str(self.o["drift_mode"]))
        tokens = split_tokens(text)
        audio_s = wav_seconds(request.audio) if self._streams() else 0.0
        if float(self.o.get("audio_tokens_per_s") or 0) > 0:
            tokens = audio_tokens(request.offset_s, audio_s, float(self.o["audio_tokens_per_s"]))
            kept, tokens = words_after_prefix(tokens, request.prefix)
        else:
            kept, tokens = tokens_after_prefix(tokens, request.prefix)
        encode = float(self.o.get("encode_ms_per_s") or 0) * audio_s
        ttft, step = (float(self.o["ttft_ms"]) + encode) / 1000, float(self.o["token_ms"]) / 1000
        if self.o.get("cache_speedup") is not None and request.audio is not None:
            if request.audio in self.seen:  # a runtime that caches a repeated input (MLPerf TEST04 catches it)
                ttft, step = ttft * float(self.o["cache_speedup"]), step * float(self.o["cache_speedup"])
            self.seen.add(request.audio)
        for k, tok in enumerate(tokens):
            # sleep to deadlines measured from the request, so delays do not drift
            delay = t0 + ttft + k * step - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            on_chunk(tok)
        if not tokens:  # the whole answer was the prefix: the encode is still paid
            delay = t0 + ttft - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return kept + "".join(tokens)

    def _streams(self) -> bool:
        return bool(self.o.get("encode_ms_per_s") or self.o.get("audio_tokens_per_s"))


class CalibrationEngine(Engine):
    name = "calibration"
    takes_prefix = True

    def __init__(self, options: dict):
        super().__init__(options)
        self.core = CalibrationModel(options)

    def load(self, model):
        self.core.load(model)

    def transcribe(self, request, on_chunk):
        return self.core.generate(request, on_chunk)

    def restart(self):
        pass  # no conversation state to reset

    def unload(self):
        self.core.unload()

    def info(self):
        return {"name": self.name, "options": self.core.o}

    def cli_invocation(self, model, request, interactive=False):
        argv = [sys.executable, "-m", "workers.engines.calibration_cli"]
        for key in OPTIONS:
            value = self.core.o[key]
            if value is None:
                continue
            flag = "--" + key.replace("_", "-")
            argv += [flag, ",".join(value) if isinstance(value, list) else str(value)]
        argv += ["--decoding", str(self.core.o.get("decoding", "greedy"))]
        if model:
            argv += ["-m", model]
        if interactive:  # its requests count from the first one's iteration (crash_at, drift_at)
            argv += ["-i", "--iteration", str(request.i)]
        else:
            argv += ["--iteration", str(request.i)]
            if request.audio:
                argv += ["-p", request.audio]
            if request.transcript:
                argv += ["--align", request.transcript]
        return CliInvocation(
            argv=argv, ready_pattern=rb"calibration: model loaded", prompt=b"File > " if interactive else None
        )
