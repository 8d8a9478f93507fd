"""What a real ASR server (llama-server) does that the test server did not: it answers 503 while
it loads its model, and closes the connection after a streamed answer without saying so. Both
on a stdlib server in a thread of this process, loopback only."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from orchestrator.load.http_target import RequestFailed, ServerTarget, TranscriptionClient
from orchestrator.load.server import ServerProcess


def _serve(handler_cls):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


class Closing(BaseHTTPRequestHandler):
    """A JSON answer with a Content-Length and keep-alive implied, then the socket closed."""

    protocol_version = "HTTP/1.1"
    answered = 0

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"text": "hello"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        type(self).answered += 1
        self.close_connection = True  # and no "Connection: close" said

    def log_message(self, *args):
        pass


def test_a_connection_the_server_closed_is_replaced_not_a_failed_request():
    httpd = _serve(Closing)
    try:
        port = httpd.server_address[1]
        target = ServerTarget(f"http://127.0.0.1:{port}/t", "127.0.0.1", port, "/t", "m")
        client = TranscriptionClient(target)
        import time

        answers = [client.send(b"RIFF", "a.wav", time.monotonic() + 10) for _ in range(4)]
        assert [a.text for a in answers] == ["hello"] * 4  # each after the server had closed the last connection
        client.close()
    finally:
        httpd.shutdown()


def test_a_fresh_connection_that_fails_is_the_requests_failure():
    target = ServerTarget("http://127.0.0.1:9/t", "127.0.0.1", 9, "/t", "m")  # discard port: nothing listens
    import time

    with pytest.raises(RequestFailed, match="connection"):
        TranscriptionClient(target).send(b"RIFF", "a.wav", time.monotonic() + 5)


class Loading(BaseHTTPRequestHandler):
    gets = 0

    def do_GET(self):
        type(self).gets += 1
        self.send_response(503 if type(self).gets <= 3 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_ready_means_an_answer_other_than_503(tmp_path: Path):
    httpd = _serve(Loading)
    try:
        server = ServerProcess.__new__(ServerProcess)
        server.proc, server.log = SimpleNamespace(poll=lambda: None), tmp_path / "log"
        server.wait_ready("127.0.0.1", httpd.server_address[1], timeout=30)
        assert Loading.gets == 4  # three "Loading model" answers waited out
    finally:
        httpd.shutdown()
