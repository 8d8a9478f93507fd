#!/usr/bin/env python3
"""Benchmark (not a test): sherpa-onnx's own API in a bare loop, outside orch, for checking
orch's onnx figures (issue 21: TTFT median within 5%, RSS within 2%).

Load the recognizer once, then N greedy requests on one audio file, each as orch's `restart`
strategy makes it: read the audio, a new stream, the language option, accept_waveform,
decode_stream, the result's text. sherpa-onnx does not stream, so TTFT is the request's
whole time, from its start to the text (orch records it the same way: `streamed: false`);
RSS is VmRSS from /proc/self/status after each request. Medians skip the first `--warmup`
requests, as orch's summary does. sherpa-onnx's own "Result is truncated" lines go to stderr.

    python scripts/bare_onnx.py models/tiny-onnx/tiny-asr-a --audio samples/phone-zh.wav \\
        --language Chinese --requests 20 --threads 2 --max-new-tokens 32 2>/dev/null
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

SUFFIX = {"fp32": "", "int8": ".int8"}


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
            sys.exit(f"bare_onnx: {path} must be 16 kHz mono 16-bit WAV")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a folder of the Qwen3-ASR ONNX export with its tokenizer files")
    ap.add_argument("--audio", required=True)
    ap.add_argument("--language", default=None)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--max-total-len", type=int, default=512)
    ap.add_argument("--precision", choices=list(SUFFIX), default="fp32")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    if args.requests <= args.warmup:
        sys.exit("bare_onnx: --requests must be more than --warmup")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):  # as orch's worker does
        os.environ.setdefault(var, str(args.threads))

    t0 = time.monotonic()
    import sherpa_onnx

    import_ms = (time.monotonic() - t0) * 1000
    q = SUFFIX[args.precision]
    rss_before_load = status_mb("VmRSS")
    t0 = time.monotonic()
    recognizer = sherpa_onnx.OfflineRecognizer.from_qwen3_asr(
        conv_frontend=f"{args.model}/conv_frontend.onnx",
        encoder=f"{args.model}/encoder{q}.onnx",
        decoder=f"{args.model}/decoder{q}.onnx",
        tokenizer=args.model,
        num_threads=args.threads,
        max_total_len=args.max_total_len,
        max_new_tokens=args.max_new_tokens,
        temperature=0.0,  # argmax (sherpa-onnx: temperature <= 1e-6 is greedy)
        top_p=1.0,
        seed=42,
    )
    load_ms = (time.monotonic() - t0) * 1000
    rss_after_load = status_mb("VmRSS")

    ttft, rss, texts = [], [], []
    for _ in range(args.requests):
        t_request = time.monotonic()
        audio = read_wav(args.audio)
        stream = recognizer.create_stream()
        if args.language:
            stream.set_option("language", args.language)
        stream.accept_waveform(16000, audio)
        recognizer.decode_stream(stream)
        text = stream.result.text
        ttft.append((time.monotonic() - t_request) * 1000)
        rss.append(status_mb("VmRSS"))
        texts.append(text)

    measured = slice(args.warmup, None)
    figures = {
        "sherpa_onnx": sherpa_onnx.__version__,
        "threads": args.threads,
        "precision": args.precision,
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


if __name__ == "__main__":
    sys.exit(main())
