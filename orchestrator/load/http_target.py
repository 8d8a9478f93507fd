"""A server as the load target: an OpenAI-compatible `POST /v1/audio/transcriptions` on a
loopback address, and the client that sends it one request (standard library only).

The request is multipart/form-data: `file` (the audio bytes), `model`, `language` when given,
and `stream=true`. A server that streams answers `text/event-stream`: every `data:` line is a
chunk, stamped (CLOCK_MONOTONIC) the moment it is read, so TTFT and ITL come from the client
side of the socket. A chunk's text is read from the shapes servers send: OpenAI's
`{"type": "transcript.text.delta", "delta": ...}` / `{"type": "transcript.text.done",
"text": ...}`, a chat-style `{"choices": [{"delta": {"content": ...}}]}`, or bare text
(transformers serve); `[DONE]` ends the stream, `{"error": ...}` fails the request. A server
that does not stream answers JSON `{"text": ...}`: the request is `streamed: false` and its
first token is its end (TTFT = latency).

Only loopback addresses (127.0.0.0/8, ::1, localhost): orch measures a server on this host,
it is not a tool to send traffic elsewhere.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

# what a run may send a server at most, warm-up included (orch load checks it before starting)
MAX_SERVER_REQUESTS = 10_000


class RequestFailed(Exception):
    """The server answered with an error, or the connection broke."""


class RequestTimedOut(Exception):
    """No answer (or no end of the stream) before the request's deadline."""


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    if host != "localhost":
        return False
    try:  # localhost is a name: every address it resolves to must be loopback
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


@dataclass(frozen=True)
class ServerTarget:
    url: str
    host: str
    port: int
    path: str
    model: str
    language: str | None = None
    serve_cmd: tuple[str, ...] | None = None  # orch starts it (its own process group) and stops it
    pid: int | None = None  # an already running server, sampled only
    connections: int = 1  # requests in flight at the server at once (one client slot each)
    serve_timeout: float = 300.0  # how long a started server may take to answer

    @staticmethod
    def split_url(url: str) -> tuple[str, int, str]:
        """(host, port, path) of an http:// URL on a loopback address; ValueError says why not."""
        parts = urlsplit(url)
        if parts.scheme != "http":
            raise ValueError(f"--url {url}: give an http:// URL (got {parts.scheme or 'no'} scheme)")
        host = parts.hostname or ""
        if not _loopback(host):
            raise ValueError(f"--url {url}: only loopback addresses (127.0.0.1, ::1, localhost), not {host or 'none'}")
        try:
            port = parts.port or 80
        except ValueError:
            raise ValueError(f"--url {url}: the port is not a number from 0 to 65535") from None
        return host, port, parts.path or "/"

    def describe(self) -> dict:
        return {
            "url": self.url,
            "model": self.model,
            "language": self.language,
            "serve_cmd": list(self.serve_cmd) if self.serve_cmd else None,
            "pid": self.pid,
            "connections": self.connections,
        }


@dataclass
class Answer:
    """One request's answer: when it was sent, every chunk's arrival, the end (parent clock)."""

    t_sent: float
    chunk_times: list[float]
    t_end: float
    text: str
    streamed: bool


def multipart(fields: dict[str, str], filename: str, audio: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with `fields` and the audio as `file`; (body, content type)."""
    boundary = f"orch-{uuid.uuid4().hex}"
    out = bytearray()
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    safe = filename.replace('"', "_")
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{safe}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    out += audio + f"\r\n--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def chunk_text(payload: str) -> tuple[str, bool, str | None]:
    """One SSE `data:` payload -> (its text, whether it is the final full text, an error or None)."""
    try:
        obj = json.loads(payload)
    except ValueError:
        return payload, False, None  # bare text (transformers serve)
    if not isinstance(obj, dict):
        return str(obj), False, None
    if "error" in obj:
        err = obj["error"]
        return "", False, str(err.get("message", err) if isinstance(err, dict) else err)
    if obj.get("type") == "transcript.text.done" and isinstance(obj.get("text"), str):
        return obj["text"], True, None
    if isinstance(obj.get("delta"), str):
        return obj["delta"], False, None
    choices = obj.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        delta = choices[0].get("delta") or {}
        return str(delta.get("content") or ""), False, None
    if isinstance(obj.get("text"), str):
        return obj["text"], False, None
    return "", False, None


class TranscriptionClient:
    """One keep-alive connection to the server; `send` runs one request to its end."""

    def __init__(self, target: ServerTarget, stamp: Callable[[], float] = time.monotonic):
        self.target = target
        self._stamp = stamp
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        with self._lock:
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.target.host, self.target.port, timeout=timeout)
            return self._conn

    def close(self) -> None:
        """Drop the connection; from another thread (Ctrl-C) it ends a read that is waiting."""
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            conn.close()

    def send(self, audio: bytes, filename: str, deadline: float) -> Answer:
        """RequestFailed / RequestTimedOut on what went wrong; the connection is then dropped."""
        fields = {"model": self.target.model, "stream": "true"}
        if self.target.language:
            fields["language"] = self.target.language
        body, ctype = multipart(fields, filename, audio)
        try:
            return self._exchange_once_more_if_stale(body, ctype, deadline)
        except TimeoutError:
            self.close()
            raise RequestTimedOut("no answer before the request timeout") from None
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise RequestFailed(f"connection: {type(exc).__name__}: {exc}") from None
        except RequestFailed:
            self.close()
            raise

    def _exchange_once_more_if_stale(self, body: bytes, ctype: str, deadline: float) -> Answer:
        """A kept-alive connection the server closed after its last answer without saying so
        (llama-server does, after a streamed one) fails at once with nothing received: the
        request goes once more on a new connection, as HTTP clients do; a new connection's
        failure is the request's."""
        fresh = self._conn is None
        try:
            return self._exchange(body, ctype, deadline)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if fresh:
                raise
            self.close()
            return self._exchange(body, ctype, deadline)

    def _remaining(self, conn: http.client.HTTPConnection, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if conn.sock is not None:
            conn.sock.settimeout(left)

    def _exchange(self, body: bytes, ctype: str, deadline: float) -> Answer:
        conn = self._connection(max(deadline - time.monotonic(), 0.001))
        self._remaining(conn, deadline)
        t_sent = self._stamp()
        conn.request(
            "POST", self.target.path, body=body, headers={"Content-Type": ctype, "Accept": "text/event-stream"}
        )
        self._remaining(conn, deadline)
        resp = conn.getresponse()
        if resp.status != 200:
            detail = resp.read(300).decode("utf-8", "replace").strip().replace("\n", " ")
            raise RequestFailed(f"HTTP {resp.status} {resp.reason}: {detail}")
        if resp.getheader("Content-Type", "").startswith("text/event-stream"):
            return self._stream(conn, resp, t_sent, deadline)
        data = resp.read()
        t_end = self._stamp()
        try:
            text = json.loads(data)["text"]
        except (ValueError, KeyError, TypeError):
            raise RequestFailed(f"the answer is not JSON with a text: {data[:120]!r}") from None
        return Answer(t_sent, [], t_end, str(text), streamed=False)

    def _stream(self, conn, resp: http.client.HTTPResponse, t_sent: float, deadline: float) -> Answer:
        times: list[float] = []
        parts: list[str] = []
        final: str | None = None
        while True:
            self._remaining(conn, deadline)
            line = resp.readline()
            now = self._stamp()
            if not line:
                break  # the server closed the stream
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text.startswith("data:"):
                continue  # blank separators, comments, event names
            payload = text[5:].removeprefix(" ")
            if payload == "[DONE]":
                break
            piece, is_final, error = chunk_text(payload)
            if error is not None:
                raise RequestFailed(f"the server's stream said: {error}")
            if is_final:
                final = piece
            elif piece:
                times.append(now)
                parts.append(piece)
        resp.read()  # the rest of the body, so the connection can carry the next request
        t_end = self._stamp()
        return Answer(t_sent, times, t_end, final if final is not None else "".join(parts), streamed=True)
