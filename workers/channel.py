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
        self._buf = b""  # what was read from the parent past the last line (serve mode)

    def send(self, event: protocol.Event) -> None:
        data = protocol.encode(event)
        while data:  # a pipe write may be partial when the parent is slow to read
            data = data[os.write(self._event_fd, data) :]

    def phase(self, name: str, i: int, model: str | None = None) -> None:
        """Mark a phase and wait, paused, until the parent has sampled our memory."""
        self.send(protocol.Phase(name=name, i=i, model=model))
        buf = self.read_line()
        if buf is None:
            raise SystemExit("parent closed the ack pipe")
        if buf != protocol.ACK:
            raise SystemExit(f"unexpected reply from parent: {buf!r}")

    def read_line(self) -> bytes | None:
        """The parent's next line (newline included), or None at end of input. Lines are
        split here, not by read sizes: in serve mode a request line may follow an ack."""
        while b"\n" not in self._buf:
            chunk = os.read(self._ack_fd, 4096)
            if not chunk:
                return None
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line + b"\n"

    def next_request(self) -> protocol.ServeRequest | None:
        """Serve mode: the parent's next request, or None when it closed the pipe."""
        line = self.read_line()
        if line is None:
            return None
        return protocol.decode(line, "parent", protocol.PARENT_TYPES)

    def token(self, i: int, text: str) -> None:
        self.send(protocol.Token(i=i, text=text, t=time.monotonic()))
