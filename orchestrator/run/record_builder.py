"""Turns a finished request's events and memory samples into an `IterationRecord`, with the
memory attributed the way the strategy's registry entry says (strategies.Memory)."""

from __future__ import annotations

import datetime as _dt
import time
from dataclasses import dataclass, field

from workers import protocol

from orchestrator.results import metrics
from orchestrator.results.model import IterationRecord, PartialIteration, PhaseMark
from orchestrator.run.sampler import Sample
from orchestrator.run.strategies import Memory


def wall(t_monotonic: float) -> str:
    """A monotonic stamp (system-wide on Linux) as wall-clock ISO-8601."""
    t = time.time() - (time.monotonic() - t_monotonic)
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds")


@dataclass
class RequestInProgress:
    """What the parent knows of the request under way."""

    i: int
    t_request: float  # the worker's clock, like the chunks' stamps
    started: float  # the parent's clock
    chunks: list[tuple[str, float]] = field(default_factory=list)


class RecordBuilder:
    def __init__(self, memory: Memory, warmup: int, audio_s: float | None):
        self.memory = memory
        self.warmup = warmup
        self.audio_s = audio_s

    def mem(self, sample: Sample | None) -> tuple[float | None, float | None]:
        """(rss, uss) of what the strategy measures: the tree, or the tree minus the worker.
        The tree minus the worker when the worker is alone in it (before the engine program
        starts, after it exits) is no measurement of the program: None, not 0 MB."""
        if sample is None:
            return None, None
        if self.memory is Memory.TREE:
            return sample.rss_mb, sample.uss_mb
        if sample.procs <= 1:
            return None, None
        return sample.engine_rss_mb, sample.engine_uss_mb

    def phase_mark(self, s: Sample) -> PhaseMark:
        rss, uss = self.mem(s)
        return PhaseMark(rss_mb=rss, uss_mb=uss, self_rss_mb=s.self_rss_mb, procs=s.procs)

    def record(
        self, done: protocol.IterationDone, req: RequestInProgress, phases: dict[str, Sample], window: list[Sample]
    ) -> IterationRecord:
        """`done` is the iteration_done event; `phases` this request's marks so far by name;
        `window` the periodic samples taken while it ran."""
        timing = metrics.timing(done.t_request, done.t_end, req.chunks, self.audio_s, done.extra.get("streamed"))
        after = phases.get("after_infer")
        rss, uss = self.mem(after)
        extra = dict(done.extra)
        ttft_phases = extra.pop("ttft_phases", None)  # the engine's breakdown, when it gives one
        if self.memory is Memory.KERNEL_MAXRSS:
            # the one-shot program is gone by the mark: its peak from the kernel stands in
            rss, uss = extra.get("engine_maxrss_mb"), None
        peaks = [self.mem(s)[0] for s in window] + [rss]
        return IterationRecord(
            i=done.i,
            model=done.model,
            warmup=done.i <= self.warmup,
            started_at=wall(done.t_request),
            ended_at=wall(done.t_end),
            **timing,
            load_ms=done.load_ms,
            chunks=len(req.chunks),
            text_raw=done.text,
            text=done.text,
            rss_mb=rss,
            uss_mb=uss,
            pss_mb=after.pss_mb if after and self.memory is Memory.TREE else None,
            worker_rss_mb=after.self_rss_mb if after else None,
            peak_rss_mb=max((p for p in peaks if p is not None), default=None),
            phases={n: self.phase_mark(phases[n]) for n in protocol.PHASES if n in phases},
            ttft_phases=ttft_phases,
            resources=self.resources(after, phases.get("before_infer")),
            cpu_s=self.cpu_s(after, phases.get("before_infer")),
            extra=extra,
        )

    @staticmethod
    def resources(after: Sample | None, before: Sample | None) -> dict[str, float] | None:
        """The tree's resources at the after-infer mark; `vm_hwm_reset` 1 when VmHWM was reset
        at the before-infer mark (the request's own peak), 0 when not (the running peak)."""
        if after is None or after.resources is None:
            return None
        out = dict(after.resources)
        out["vm_hwm_reset"] = 1.0 if before is not None and before.peak_reset else 0.0
        return out

    @staticmethod
    def cpu_s(after: Sample | None, before: Sample | None) -> float | None:
        """The tree's CPU seconds from the before-infer mark to the after-infer mark."""
        if after is None or before is None or after.cpu_s is None or before.cpu_s is None:
            return None
        return max(after.cpu_s - before.cpu_s, 0.0)

    def add_late_phases(self, rec: IterationRecord, phases: dict[str, Sample]) -> None:
        """Marks that come after the request (`after_unload`) still belong to it."""
        for name in protocol.PHASES:
            if name in phases and name not in rec.phases:
                rec.phases[name] = self.phase_mark(phases[name])

    @staticmethod
    def partial(req: RequestInProgress | None, now: float) -> PartialIteration | None:
        """What a cut-off request had produced: kept apart from the records (it is no
        finished request, so it enters no statistic) but not lost."""
        if req is None:
            return None
        # the same timing rules as a finished record, up to the last chunk that arrived
        t_end = req.chunks[-1][1] if req.chunks else req.t_request
        timing = metrics.timing(req.t_request, t_end, req.chunks, None)
        return PartialIteration(
            i=req.i,
            chunks=len(req.chunks),
            text_so_far="".join(text for text, _ in req.chunks),
            ttft_ms=timing["ttft_ms"],
            tokens=timing["tokens"],
            itl_ms_p50=timing["itl_ms_p50"],
            elapsed_s=now - req.started,
        )
