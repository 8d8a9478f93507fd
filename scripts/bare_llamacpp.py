#!/usr/bin/env python3
"""Benchmark (not a test): llama.cpp's llama-server in a bare loop, outside orch, for checking
orch's llamacpp figures (issue 21: TTFT median within 5%, RSS within 2%).

Start one llama-server on a loopback port with the flags orch's worker gives it (model, audio
encoder, -c, -n, -t, -np, --temp 0, --seed, --no-cache-prompt), then N requests on one audio
file, each as orch's `restart` strategy makes it: read the WAV, base64 it, POST a fresh
conversation to /v1/chat/completions (empty system turn, the audio, the assistant turn prefilled
with `language X<asr_text>`) with `stream: true`, and read the server-sent events. TTFT: from
the request's start (before the audio is read) to the first event with text. RSS is the
server's VmRSS (/proc/PID/status) after each request: the model lives in the server, so that
is the figure to set against orch's engine memory (an iteration's tree RSS less the worker's
own). Medians skip the first `--warmup` requests, as orch's summary does.

    python scripts/bare_llamacpp.py models/tiny-llamacpp/tiny-asr-a-f16.gguf \\
        --mmproj models/tiny-llamacpp/tiny-asr-a-mmproj-f16.gguf --server build/bin/llama-server \\
        --audio samples/phone-zh.wav --language Chinese --requests 20 --threads 2 --max-new-tokens 32
and beside it, the same with orch (restart strategy, same options).

Imports nothing from orch: it is the reference orch is checked against.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time


def status_mb(pid: int | str, field: str) -> float:
    """A /proc/PID/status memory line (VmRSS, VmHWM) in MiB, as orch reports MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args) -> tuple[subprocess.Popen, int, float]:
    """The server, its port and how long it took to answer /health with 200."""
    port = free_port()
    argv = [args.server, "-m", args.model, "--mmproj", args.mmproj, "-c", str(args.ctx), "-n", str(args.max_new_tokens)]
    argv += ["-t", str(args.threads)] if args.threads else []
    argv += ["--temp", "0", "--seed", str(args.seed), "--host", "127.0.0.1", "--port", str(port)]
    argv += ["-np", str(args.parallel), "--no-cache-prompt", "--no-webui"]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return proc, port, (time.monotonic() - t0) * 1000
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit(f"bare_llamacpp: llama-server exited ({proc.returncode}) while loading")


def request(port: int, args) -> tuple[float, str, dict]:
    """One streamed request: (TTFT ms, text, the server's timings)."""
    t_request = time.monotonic()
    with open(args.audio, "rb") as f:
        data = base64.b64encode(f.read()).decode("ascii")
    messages = [
        {"role": "system", "content": ""},
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": data, "format": "wav"}}]},
    ]
    if args.language:
        messages.append({"role": "assistant", "content": f"language {args.language}<asr_text>"})
    body = {"messages": messages, "stream": True, "max_tokens": args.max_new_tokens, "cache_prompt": False}
    body.update(temperature=0.0, seed=args.seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    conn.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    first, pieces, timings = None, [], {}
    for raw in resp:
        line = raw.strip()
        if not line.startswith(b"data:") or line[5:].strip() == b"[DONE]":
            continue
        event = json.loads(line[5:])
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                first = first or time.monotonic()
                pieces.append(piece)
        timings = event.get("timings") or timings
    conn.close()
    return ((first or time.monotonic()) - t_request) * 1000, "".join(pieces), timings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="Qwen3-ASR's text GGUF")
    ap.add_argument("--mmproj", required=True, help="its audio encoder GGUF")
    ap.add_argument("--server", default="llama-server")
    ap.add_argument("--audio", required=True, help="a 16 kHz mono 16-bit WAV")
    ap.add_argument("--language", default=None)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--parallel", type=int, default=1)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = ap.parse_args()
    if args.requests <= args.warmup:
        sys.exit("bare_llamacpp: --requests must be more than --warmup")
    proc, port, load_ms = start(args)
    rss_after_load = status_mb(proc.pid, "VmRSS")
    ttft, rss, texts, cached = [], [], [], []
    try:
        for _ in range(args.requests):
            t, text, timings = request(port, args)
            ttft.append(t)
            rss.append(status_mb(proc.pid, "VmRSS"))
            texts.append(text)
            cached.append(timings.get("cache_n"))
        peak = status_mb(proc.pid, "VmHWM")
    finally:
        proc.terminate()
        proc.wait()
    measured = slice(args.warmup, None)
    figures = {
        "server": args.server,
        "threads": args.threads,
        "load_ms": round(load_ms, 1),
        "rss_after_load_mb": round(rss_after_load, 1),
        "ttft_ms_median": round(statistics.median(ttft[measured]), 1),
        "rss_after_request_mb_median": round(statistics.median(rss[measured]), 1),
        "rss_after_last_mb": round(rss[-1], 1),
        "peak_rss_mb": round(peak, 1),
        "prompt_tokens_from_cache": sorted({c for c in cached if c is not None}),
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
