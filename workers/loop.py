"""Steps every in-process strategy shares: load with phase marks, one streamed request,
unload with phase marks. The strategies differ only in how they put these together."""

from __future__ import annotations

import resource
import time

from workers import libc, protocol
from workers.channel import Channel
from workers.engines.base import Engine, Request


def ttft_cpu(before: resource.struct_rusage, at_first: resource.struct_rusage) -> dict:
    """What this process did between the request and its first chunk: CPU seconds of all its
    threads (an engine computing on N threads uses about N x the TTFT when it has the cores to
    itself, much less when other work takes them) and how often the kernel took a core from
    it (involuntary context switches). Children (ffmpeg) are not in these."""
    cpu = (at_first.ru_utime + at_first.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"ttft_cpu_ms": round(cpu * 1000, 1), "ttft_involuntary_switches": at_first.ru_nivcsw - before.ru_nivcsw}


def malloc_trim() -> bool | None:
    """glibc's `malloc_trim(0)`: hand the heap's free pages back to the kernel (every arena,
    free chunks inside the heap too, not only its top). True if memory was released, False
    if none could be, None where there is no glibc malloc_trim (musl, macOS: the Session
    notes it once). The function is resolved once and without a child process (workers.libc:
    not `find_library`, whose `ldconfig -p` would run in the sampled tree before after_unload)."""
    trim = libc.malloc_trim_function()
    return None if trim is None else bool(trim(0))


class Session:
    """One worker's engine, channel and request settings."""

    def __init__(self, channel: Channel, engine: Engine, config: protocol.WorkerConfig):
        self.ch = channel
        self.engine = engine
        self.config = config
        self.models = list(config.models) or [None]
        self.load_ms: float | None = None
        self.notes: list[str] = []  # teardown findings, sent with `done`
        self.last: tuple[int, str | None] | None = None  # (i, model) of the last request
        self._trim_noted = False

    def idle(self) -> None:
        """`idle_s` after the last request, one more mark: what comes back at rest."""
        idle_s = float(self.config.idle_s or 0)
        if idle_s > 0 and self.last is not None:
            time.sleep(idle_s)
            self.ch.phase("after_idle", *self.last)

    def load(self, i: int, model: str | None) -> None:
        self.ch.phase("before_load", i, model)
        t0 = time.monotonic()
        self.engine.load(model)
        self.load_ms = (time.monotonic() - t0) * 1000
        self.ch.phase("after_load", i, model)

    def unload(self, i: int, model: str | None) -> None:
        self.engine.unload()
        if self.engine.options.get("trim_after_unload"):
            # leak or retention: what glibc keeps after a free comes back now, so what the
            # after_unload mark still sees is held by someone, not cached by the allocator
            if malloc_trim() is None and not self._trim_noted:
                self.notes.append("trim_after_unload: this C library has no malloc_trim; nothing trimmed")
                self._trim_noted = True
        self.ch.phase("after_unload", i, model)

    def request_for(self, i: int, audio: str | None = None) -> Request:
        """Request i's input: the config's `audio` and `transcript` for every request, or,
        with `inputs` (one entry per request: `orch transcribe`), entry i - 1's `audio` and
        its words to align, `transcript` or `transcript_file` (read now: the parent writes
        it while this worker waits at the request's `before_infer` mark). `audio`: the file
        a serve-mode request names (orch load), instead of the config's."""
        cfg = self.config
        inputs = cfg.inputs
        if not inputs:
            audio = audio if audio is not None else cfg.audio
            return Request(i=i, audio=audio, transcript=cfg.transcript, language=cfg.language)
        item = inputs[i - 1]
        transcript = item.get("transcript")
        if item.get("transcript_file"):
            with open(item["transcript_file"], encoding="utf-8") as f:
                transcript = f.read().strip()
        # each file's own language (orch transcribe guesses it per file), else the config's
        return Request(i=i, audio=item["audio"], transcript=transcript, language=item.get("language", cfg.language))

    def stream_request(
        self, i: int, audio: str | None, prefix: str | None, offset_s: float | None
    ) -> tuple[Request, dict]:
        """Request i with orch stream's fields: where its audio starts in the stream, and the
        start of the answer when the engine can take it; and the fact for its record
        (`prefix`: taken | ignored; nothing when no prefix was sent)."""
        req = self.request_for(i, audio)
        req.offset_s = offset_s or 0.0
        if prefix is None:
            return req, {}
        taken = self.engine.prefix_taken(req)
        if taken:
            req.prefix = prefix
        return req, {"prefix": "taken" if taken else "ignored"}

    def _ttft_facts(self, t_request: float, t_first: float | None, usage, first_usage: list) -> dict:
        """The TTFT's phases (engines that can break it up) and the CPU spent before it."""
        out: dict = {}
        phases = getattr(self.engine, "ttft_phases", None)
        ttft_phases = phases(t_request, t_first) if phases else None
        if ttft_phases:
            out["ttft_phases"] = ttft_phases
        if first_usage:
            out.update(ttft_cpu(usage, first_usage[0]))
        return out

    def request(
        self,
        i: int,
        model: str | None,
        audio: str | None = None,
        marks: bool = True,
        prefix: str | None = None,
        offset_s: float | None = None,
    ) -> None:
        """Send one request, stream its chunks, mark `after_infer`, report the iteration.
        `audio`: this request's file (serve mode; default the config's). `marks=False`: no
        before_infer/after_infer pause (serve mode: nothing pauses a request under load).
        `prefix`: the start of the answer (orch stream), for an engine that takes one;
        `offset_s`: where the audio starts in the stream."""
        self.last = (i, model)
        first: list[float] = []
        first_usage: list[resource.struct_rusage] = []
        count = 0

        def on_chunk(text: str) -> None:
            nonlocal count
            t = time.monotonic()  # stamped the moment the chunk reaches us
            if not first:
                first.append(t)
                first_usage.append(resource.getrusage(resource.RUSAGE_SELF))
            count += 1
            self.ch.send(protocol.Token(i=i, text=text, t=t))

        if marks:
            self.ch.phase("before_infer", i, model)
        # after the mark: a transcript file is written while we wait there
        req, stream_facts = self.stream_request(i, audio, prefix, offset_s)
        self.ch.send(protocol.IterationStart(i=i, t=time.monotonic()))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        t_request = time.monotonic()
        text = self.engine.transcribe(req, on_chunk)
        t_end = time.monotonic()
        if marks:
            self.ch.phase("after_infer", i, model)
        clean = self.engine.clean_text(text)
        extra = {"raw_output": text[-2000:]} if clean != text else {}
        extra.update(self.engine.request_facts())
        extra.update(stream_facts)
        extra.update(self._ttft_facts(t_request, first[0] if first else None, usage, first_usage))
        self.ch.send(
            protocol.IterationDone(
                i=i,
                text=clean,
                tokens=count,
                t_request=t_request,
                t_first=first[0] if first else None,
                t_end=t_end,
                model=model,
                load_ms=self.load_ms,
                extra=extra,
            )
        )
        self.load_ms = None  # reported once, with the first request after the load
