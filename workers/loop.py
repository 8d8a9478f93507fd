"""Steps every in-process strategy shares: load with phase marks, one streamed request,
unload with phase marks. The strategies differ only in how they put these together."""

from __future__ import annotations

import time

from workers.channel import Channel
from workers.engines.base import Engine, Request


class Session:
    """One worker's engine, channel and request settings."""

    def __init__(self, channel: Channel, engine: Engine, config: dict):
        self.ch = channel
        self.engine = engine
        self.config = config
        self.models = config.get("models") or [None]
        self.load_ms: float | None = None
        self.notes: list[str] = []  # teardown findings, sent with `done`

    def load(self, i: int, model: str | None) -> None:
        self.ch.phase("before_load", i, model)
        t0 = time.monotonic()
        self.engine.load(model)
        self.load_ms = (time.monotonic() - t0) * 1000
        self.ch.phase("after_load", i, model)

    def unload(self, i: int, model: str | None) -> None:
        self.engine.unload()
        self.ch.phase("after_unload", i, model)

    def request(self, i: int, model: str | None) -> None:
        """Send one request, stream its chunks, mark `after_infer`, report the iteration."""
        cfg = self.config
        req = Request(i=i, audio=cfg.get("audio"), transcript=cfg.get("transcript"),
                      language=cfg.get("language"))
        first: list[float] = []
        count = 0

        def on_chunk(text: str) -> None:
            nonlocal count
            t = time.monotonic()  # stamped the moment the chunk reaches us
            if not first:
                first.append(t)
            count += 1
            self.ch.send("token", i=i, text=text, t=t)

        self.ch.phase("before_infer", i, model)
        self.ch.send("iteration_start", i=i, t=time.monotonic())
        t_request = time.monotonic()
        text = self.engine.transcribe(req, on_chunk)
        t_end = time.monotonic()
        self.ch.phase("after_infer", i, model)
        clean = self.engine.clean_text(text)
        self.ch.send("iteration_done", i=i, text=clean, tokens=count, t_request=t_request,
                     t_first=first[0] if first else None, t_end=t_end, model=model,
                     load_ms=self.load_ms, extra={"raw_output": text[-2000:]} if clean != text else {})
        self.load_ms = None  # reported once, with the first request after the load
