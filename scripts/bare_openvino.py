#!/usr/bin/env python3
"""Benchmark (not a test): OpenVINO GenAI's ASRPipeline in a bare loop, outside orch, for
checking orch's openvino figures (issue 21: TTFT median within 5%, RSS within 2%).

Load the pipeline once, then N greedy requests on one audio file, each as orch's `restart`
strategy makes it: read the audio, generate with a streamer. TTFT is from the request's start
to the first streamed text chunk (the streamer callback GenAI calls); RSS is VmRSS from
/proc/self/status after each request. Medians skip the first `--warmup` requests, as orch's
summary does.

    python scripts/bare_openvino.py models/tiny-openvino/tiny-asr-a \\
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
            sys.exit(f"bare_openvino: {path} must be 16 kHz mono 16-bit WAV")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a Qwen3-ASR folder exported by optimum-intel")
    ap.add_argument("--audio", required=True)
    ap.add_argument("--language", default=None)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    if args.requests <= args.warmup:
        sys.exit("bare_openvino: --requests must be more than --warmup")
    if args.threads:  # as orch's worker pins them
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(name, str(args.threads))

    t0 = time.monotonic()
    import openvino_genai

    import_ms = (time.monotonic() - t0) * 1000
    rss_before_load = status_mb("VmRSS")
    t0 = time.monotonic()
    properties = {"INFERENCE_NUM_THREADS": args.threads} if args.threads else {}
    pipeline = openvino_genai.ASRPipeline(args.model, "CPU", **properties)
    config = pipeline.get_generation_config()
    config.do_sample = False
    config.num_beams = 1
    config.max_new_tokens = args.max_new_tokens
    config.language = args.language
    load_ms = (time.monotonic() - t0) * 1000
    rss_after_load = status_mb("VmRSS")

    class Stamps:
        """The streamer GenAI calls with each text chunk: stamps the first, counts them."""

        def __init__(self) -> None:
            self.first: float | None = None
            self.chunks = 0

        def __call__(self, text: str) -> bool:
            if self.first is None:
                self.first = time.monotonic()
            self.chunks += 1
            return False  # go on

    ttft, latency, rss, texts, chunk_counts = [], [], [], [], []
    for _ in range(args.requests):
        streamer = Stamps()
        t_request = time.monotonic()
        audio = read_wav(args.audio)
        result = pipeline.generate(audio, config, streamer)
        t_end = time.monotonic()
        ttft.append((streamer.first - t_request) * 1000 if streamer.first is not None else None)
        latency.append((t_end - t_request) * 1000)
        rss.append(status_mb("VmRSS"))
        texts.append(result.texts[0])
        chunk_counts.append(streamer.chunks)

    measured = slice(args.warmup, None)
    figures = {
        "openvino_genai": openvino_genai.__version__,
        "threads": args.threads,
        "import_ms": round(import_ms, 1),
        "load_ms": round(load_ms, 1),
        "rss_before_load_mb": round(rss_before_load, 1),
        "rss_after_load_mb": round(rss_after_load, 1),
        "ttft_ms_median": round(statistics.median(t for t in ttft[measured] if t is not None), 1),
        "latency_ms_median": round(statistics.median(latency[measured]), 1),
        "chunks_median": statistics.median(chunk_counts[measured]),
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
