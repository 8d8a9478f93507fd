#!/usr/bin/env python3
"""Benchmark (not a test): CrispASR's own Python API in a bare loop, outside orch, for checking
orch's crispasr figures (issue 21: TTFT median within 5%, RSS within 2%).

Open the Session once, then N greedy requests on one audio file, each as orch's `restart`
strategy makes it: read the audio, `Session.transcribe(pcm, language=...)`. The session does
not stream (its token callback fires after the decode), so a request's TTFT is its latency:
from the request's start to transcribe's return. RSS is VmRSS from /proc/self/status after
each request. Medians skip the first `--warmup` requests, as orch's summary does. OpenBLAS's
and OpenMP's threads are pinned to --threads before the library loads, as orch's worker does.

    python scripts/bare_crispasr.py models/tiny-crispasr/tiny-asr-a-f16.gguf \\
        --audio samples/phone-zh.wav --language Chinese --requests 20 --threads 2 --max-new-tokens 32
and beside it, the same with orch (restart strategy, same options), then compare
`ttft_ms_median` and the RSS after the requests.

Imports nothing from orch: it is the reference orch is checked against.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import wave


def status_mb(field: str) -> float:
    """A /proc/self/status memory line (VmRSS, VmHWM) in MiB, as orch reports MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def read_wav(path: str):
    import numpy as np

    with wave.open(path, "rb") as w:
        if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (16000, 1, 2):
            sys.exit(f"bare_crispasr: {path} must be 16 kHz mono 16-bit WAV")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a Qwen3-ASR GGUF file")
    ap.add_argument("--audio", required=True)
    ap.add_argument("--language", default=None)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    if args.requests <= args.warmup:
        sys.exit("bare_crispasr: --requests must be more than --warmup")
    if args.threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(args.threads))

    t0 = time.monotonic()
    import crispasr

    import_ms = (time.monotonic() - t0) * 1000
    rss_before_load = status_mb("VmRSS")
    t0 = time.monotonic()
    session = crispasr.Session(args.model, **({"n_threads": args.threads} if args.threads else {}))
    session.set_max_new_tokens(args.max_new_tokens)
    session.set_temperature(0.0)
    load_ms = (time.monotonic() - t0) * 1000
    rss_after_load = status_mb("VmRSS")

    ttft, rss, texts = [], [], []
    for _ in range(args.requests):
        t_request = time.monotonic()
        audio = read_wav(args.audio)
        segments = session.transcribe(audio, language=args.language)
        text = " ".join(s.text for s in segments if s.text)
        ttft.append((time.monotonic() - t_request) * 1000)  # the whole text at once: TTFT = latency
        rss.append(status_mb("VmRSS"))
        texts.append(text)
    session.close()

    measured = slice(args.warmup, None)
    figures = {
        "crispasr": crispasr.__version__ if hasattr(crispasr, "__version__") else _version(),
        "threads": args.threads,
        "import_ms": round(import_ms, 1),
        "load_ms": round(load_ms, 1),
        "rss_before_load_mb": round(rss_before_load, 1),
        "rss_after_load_mb": round(rss_after_load, 1),
        "ttft_ms_median": round(statistics.median(ttft[measured]), 1),
        "rss_after_request_mb_median": round(statistics.median(rss[measured]), 1),
        "rss_after_last_mb": round(rss[-1], 1),
        "peak_rss_mb": round(status_mb("VmHWM"), 1),
        "requests": args.requests,
        "warmup": args.warmup,
        "same_text_every_time": len(set(texts)) == 1,
    }
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        print(json.dumps(figures))
    return 0


def _version() -> str:
    from importlib.metadata import version

    return version("crispasr")


if __name__ == "__main__":
    sys.exit(main())
