"""A minimal OpenAI-compatible transcription server, for orch's tests only (standard library
http.server): `POST /v1/audio/transcriptions` runs the request through ONE orch worker in serve
mode (the calibration engine with a fixed service time, or chatllm.cpp's tiny model), one
request at a time behind a lock, so concurrent connections queue inside the server.

    python tests/asr_server/server.py --port P [--no-stream] [--fail-audio NAME] \
        [--engine calibration --ttft-ms 40 --token-ms 1 | --engine chatllm --model F --language L]

- `stream=true`: an SSE stream, one `transcript.text.delta` event per token as the worker
  emits it, then `transcript.text.done` and `[DONE]` (OpenAI's shape); else JSON `{"text"}`.
- `--no-stream`: always JSON (a server that does not stream).
- `--fail-audio NAME`: a request whose file is named NAME gets HTTP 500 (exact failure counts).
- `GET /`: 200 (what orch --serve-cmd waits for).
- SIGTERM: stops serving, ends its worker (waits for it), exits 0. Its pid and its worker's pid
  are printed on stdout once it serves (`serving pid=P worker=W`).

It imports orch from the checkout it sits in (its own path), so it runs from any folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's orch, not an installed one

from orchestrator.load.plan import LoadInputs, LoadPlan  # noqa: E402
from orchestrator.run.worker_process import WorkerProcess  # noqa: E402
from workers import protocol  # noqa: E402


class Engine:
    """One orch worker in serve mode; `transcribe` runs one request at a time."""

    def __init__(self, config: protocol.WorkerConfig, log: Path):
        self.proc = WorkerProcess("asr-server-worker", config, log)
        self.lock = threading.Lock()
        self.count = 0
        while True:  # load: acknowledge its phase marks until it serves
            ev = self.proc.next_event(time.monotonic() + 300)
            if isinstance(ev, protocol.Phase):
                self.proc.ack()
                if ev.name == "after_load":
                    return
            elif isinstance(ev, protocol.Error):
                raise SystemExit(f"worker failed to load: {ev.kind}: {ev.message}")

    def transcribe(self, audio: str | None, on_token) -> str:
        with self.lock:
            self.count += 1
            self.proc.send_request(protocol.ServeRequest(i=self.count, audio=audio))
            while True:
                ev = self.proc.next_event(time.monotonic() + 300)
                if isinstance(ev, protocol.Token):
                    on_token(ev.text)
                elif isinstance(ev, protocol.IterationDone):
                    return ev.text
                elif isinstance(ev, protocol.Error):
                    raise RuntimeError(f"{ev.kind}: {ev.message}")
                elif isinstance(ev, protocol.Phase):
                    self.proc.ack()

    def close(self) -> None:
        self.proc.end_input()
        if self.proc.wait_exit(10) is None:
            self.proc.kill()
            self.proc.wait_exit(10)


def form_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """multipart/form-data -> {name: (filename, bytes)}. Split by hand: the email package's
    parser takes ~60 ms on a 350 KB file, which would show in every request's TTFT."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    out = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break  # the closing boundary
        head, _, data = part.partition(b"\r\n\r\n")
        disposition = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            out[name.group(1)] = (filename.group(1) if filename else None, data.removesuffix(b"\r\n"))
    return out


def handler(engine: Engine, stream_ok: bool, fail_audio: str | None, scratch: str):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, chunked streams
        disable_nagle_algorithm = True  # else a small write waits on the client's delayed ACK: +40 ms

        def log_message(self, *args) -> None:
            pass

        def _send(self, code: int, obj: dict) -> None:
            data = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._send(200, {"status": "ok"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != "/v1/audio/transcriptions":
                return self._send(404, {"error": f"no route {self.path}"})
            fields = form_fields(self.headers.get("Content-Type", ""), body)
            if "file" not in fields or "model" not in fields:
                return self._send(422, {"error": "file and model are required"})
            filename, audio = fields["file"]
            if fail_audio and filename == fail_audio:
                return self._send(500, {"error": f"refused {filename} (--fail-audio)"})
            path = None
            if audio:
                fd, path = tempfile.mkstemp(suffix=Path(filename or "a.wav").suffix, dir=scratch)
                with os.fdopen(fd, "wb") as f:
                    f.write(audio)
            stream = stream_ok and fields.get("stream", (None, b""))[1] == b"true"
            try:
                if not stream:
                    text = engine.transcribe(path, lambda _t: None)
                    return self._send(200, {"text": text})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def event(obj) -> None:
                    data = f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()

                text = engine.transcribe(path, lambda t: event({"type": "transcript.text.delta", "delta": t}))
                event({"type": "transcript.text.done", "text": text})
                event("[DONE]")
                self.wfile.write(b"0\r\n\r\n")
            finally:
                if path:
                    os.unlink(path)

    return Handler


class Stop(Exception):
    pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--engine", choices=("calibration", "chatllm"), default="calibration")
    ap.add_argument("--ttft-ms", type=float, default=40.0)
    ap.add_argument("--token-ms", type=float, default=1.0)
    ap.add_argument("--model")
    ap.add_argument("--language")
    ap.add_argument("--chatllm-dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--fail-audio")
    args = ap.parse_args()
    # the worker's config as orch load makes it (LoadPlan.build: the engine's own hooks)
    if args.engine == "calibration":
        options: dict = {"ttft_ms": args.ttft_ms, "token_ms": args.token_ms, "model_mb": 4.0}
    else:
        options = {"chatllm_dir": args.chatllm_dir, "threads": args.threads, "max_new_tokens": 32}
    plan, _notes = LoadPlan.build(
        LoadInputs(engine=args.engine, model=args.model, language=args.language, engine_options=options)
    )
    assert plan.pool.worker_config is not None
    config = plan.pool.worker_config
    scratch = tempfile.mkdtemp(prefix="asr-server-")
    engine = Engine(config, Path(scratch) / "worker.log")
    server = ThreadingHTTPServer(
        ("127.0.0.1", args.port), handler(engine, not args.no_stream, args.fail_audio, scratch)
    )
    server.daemon_threads = True

    def on_term(signum, frame):
        raise Stop

    signal.signal(signal.SIGTERM, on_term)
    print(f"serving pid={os.getpid()} worker={engine.proc.pid}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except (Stop, KeyboardInterrupt):
        pass
    finally:
        server.server_close()
        engine.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
