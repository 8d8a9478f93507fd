"""The worker's end of the protocol: unbuffered writes, so an event leaves the process the
moment it is made (a crash right after it cannot lose it)."""

from __future__ import annotations

import os
import time

from workers import protocol


class Channel:
    def __init__(self, event_fd: int, ack_fd: int):
        self._event_fd = event_fd
        self._ack_fd = ack_fd

    def send(self, event: protocol.Event) -> None:
        data = protocol.encode(event)
        while data:  # a pipe write may be partial when the parent is slow to read
            data = data[os.write(self._event_fd, data) :]

    def phase(self, name: str, i: int, model: str | None = None) -> None:
        """Mark a phase and wait, paused, until the parent has sampled our memory."""
        self.send(protocol.Phase(name=name, i=i, model=model))
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = os.read(self._ack_fd, 64)
            if not chunk:
                raise SystemExit("parent closed the ack pipe")
            buf += chunk
        if buf != protocol.ACK:
            raise SystemExit(f"unexpected reply from parent: {buf!r}")

    def token(self, i: int, text: str) -> None:
        self.send(protocol.Token(i=i, text=text, t=time.monotonic()))
