"""Worker side of the example engine `echo` (docs/engines.md): it gets every option from the
parent (defaults filled in) and keeps none of its own."""

from __future__ import annotations

import time

from workers.engines.base import Engine


class EchoEngine(Engine):
    name = "echo"

    def load(self, model):
        self.model = model

    def transcribe(self, request, on_chunk):
        time.sleep(self.options["delay_ms"] / 1000)
        for word in self.options["text"].split(" "):
            on_chunk(word + " ")
        return self.options["text"]

    def restart(self):
        pass

    def unload(self):
        self.model = None
