"""Runs one strategy: starts its worker process(es) as its registry entry says, samples
them, lets `worker_events.EventLoop` turn their events into records, and has each record
scored and appended to `<run_dir>/<strategy>.jsonl` exactly once (record_sink), so a crash,
hang, Ctrl-C or a bug on the parent's side loses nothing already measured.

Records are scored and written while the worker waits at its `before_infer` mark (or after
it is gone), never while it is inside a measured request.
"""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from workers import protocol

from orchestrator import stop_signals
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import WriteFailed
from orchestrator.results.model import IterationRecord, PartialIteration, Status, StrategyResult
from orchestrator.run import hostinfo, resource_guard, strategies, worker_env
from orchestrator.run.memory_guard import MemoryGuard
from orchestrator.run.record_builder import RecordBuilder
from orchestrator.run.record_sink import RecordSink
from orchestrator.run.resource_guard import ResourceGuard
from orchestrator.run.sampler import Sampler
from orchestrator.run.worker_events import EventLoop, StrategyStopped
from orchestrator.run.worker_process import WorkerProcess

# text_raw -> what the quality pipeline or the alignment check adds to a record
Scorer = Callable[[str], dict]


class StrategyRunner:
    def __init__(
        self,
        plan,
        strategy: str,
        worker_config: protocol.WorkerConfig,
        audio_s: float | None,
        scorer: Scorer | None = None,
        progress: Callable[[IterationRecord], None] | None = None,
        worker_wrap: list[str] | None = None,
        on_phase: Callable[[int, str, int], None] | None = None,
        env: dict[str, str] | None = None,
    ):
        """`env`: the workers' environment (runner.execute builds it once per run and
        records it); default: built here from the plan's `worker_env`."""
        self.plan = plan
        self.spec = strategies.get(strategy)
        self.base_config = worker_config
        self.scorer = scorer
        self.builder = RecordBuilder(self.spec.memory, plan.warmup, audio_s)
        limit = getattr(plan, "max_rss_mb", None)
        self.guard = MemoryGuard(limit) if limit else None
        share = getattr(plan, "resource_guard", 0)
        self.resource_guard = ResourceGuard(share) if share else None
        self.sampler = Sampler(plan.sample_hz, on_sample=resource_guard.both(self.guard, self.resource_guard))
        self.teardown: list[str] = []
        self.starts: list[tuple[float, int]] = []
        self.worker_wrap = worker_wrap  # a tracer around the worker (orchestrator.studies.attribution)
        self.env = env if env is not None else worker_env.build(getattr(plan, "worker_env", None)).environ
        self.marks: list[tuple[int, str, float]] = []
        self.on_phase = on_phase  # (iteration, phase, worker pid) at every mark, before the ack
        self.engine_info: dict | None = None
        self.partial: PartialIteration | None = None
        self.write_failed: WriteFailed | None = None  # the JSONL could not be written: the run stops
        self.t0 = time.monotonic()
        Path(plan.run_dir).mkdir(parents=True, exist_ok=True)
        self.jsonl_path = Path(plan.run_dir) / f"{strategy}.jsonl"
        self.log_path = Path(plan.run_dir) / f"{strategy}.worker.log"
        self.sink: RecordSink[IterationRecord] = RecordSink(self.jsonl_path, progress)

    def run(self) -> StrategyResult:
        status, error = Status.OK, None
        load_start = hostinfo.load_average()
        try:
            models = list(self.base_config.models)
            if self.spec.processes is strategies.Processes.PER_ITERATION:
                for i in range(1, self.plan.iters + 1):
                    for model in models or [None]:
                        self._run_worker(first_i=i, iters=1, models=[model] if model else [])
            else:
                self._run_worker(first_i=1, iters=self.plan.iters, models=models)
        except StrategyStopped as out:
            status, error = out.status, out.error
        except WriteFailed as exc:  # a full disk: the worker is stopped, the whole lines kept
            status, error, self.write_failed = Status.ERROR, exc.message, exc
        except KeyboardInterrupt:
            status, error = Status.INTERRUPTED, f"stopped by {stop_signals.reason()}"
        except Exception as exc:  # a bug on the parent's side ends this strategy, not the run
            status, error = Status.ERROR, harness_error(exc)
        finally:
            self.sampler.stop()
            self.sink.close()
        return StrategyResult(
            strategy=self.spec.name,
            scenario=self.plan.scenario,
            model=self.plan.model_label(),
            status=status,
            error=error,
            iterations=self.sink.records,
            teardown=self.teardown,
            engine_info=self.engine_info,
            samples=self._compact_samples(),
            partial=self.partial,
            host_load=host_load(load_start, hostinfo.load_average()),
        )

    def _run_worker(self, first_i: int, iters: int, models: list) -> None:
        config = dataclasses.replace(self.base_config, first_i=first_i, iters=iters, models=tuple(models))
        loop = EventLoop(
            self.builder,
            self.plan.iter_timeout,
            self.sampler.mark,
            self.sampler.between,
            self._write,
            noise=log_noise(self.plan),
            reset_peak=self.sampler.reset_peak,
            read_resources=self.sampler.read_resources,
        )
        name = f"{self.spec.name}#{first_i}"
        with WorkerProcess(name, config, self.log_path, env=self.env, wrap=self.worker_wrap) as wp:
            if self.on_phase:
                hook, pid = self.on_phase, wp.pid
                loop.on_phase = lambda i, name: hook(i, name, pid)
            self.sampler.watch(wp.pid)
            if self.guard:
                self.guard.watch(wp.pid)
            if self.resource_guard:
                self.resource_guard.watch(wp.pid)
            try:
                loop.run(wp)
            except StrategyStopped:
                self.partial = loop.partial()
                if self.guard and self.guard.tripped:
                    where = (
                        f"during iteration {loop.current.i}"
                        if loop.current
                        else f"after iteration {loop.last_done_i}"
                        if loop.last_done_i
                        else "while loading"
                    )
                    raise StrategyStopped(Status.MEMORY_LIMIT, self.guard.message(where)) from None
                if self.resource_guard and self.resource_guard.tripped:
                    where = f"after iteration {loop.last_done_i}" if loop.last_done_i else "while loading"
                    raise StrategyStopped(Status.RESOURCE_LIMIT, self.resource_guard.message(where)) from None
                raise
            except BaseException:  # Ctrl-C or a bug here: stop the worker, keep what it measured
                wp.kill()
                self._write(loop.pending, strict=False)
                self.partial = loop.partial()
                raise
            finally:
                self.sampler.unwatch()
                self.engine_info = loop.engine_info or self.engine_info
                self.teardown += loop.teardown
                self.starts += loop.starts
                self.marks += loop.marks

    def _write(self, pending: list[IterationRecord], strict: bool = True) -> None:
        """Score and write pending records, each exactly once, popping each once it is on
        disk. A record whose scoring fails is written unscored; with `strict` the failure is
        raised after every pending record is on disk."""
        failure: BaseException | None = None
        while pending:
            rec = pending[0]
            if not self.sink.has(rec):
                if self.scorer:
                    try:
                        apply_scores(rec, self.scorer(rec.text_raw))
                    except Exception as exc:
                        failure = failure or exc
                self.sink.write(rec)
            pending.pop(0)
        if failure is not None and strict:
            raise failure

    def _compact_samples(self) -> list:
        """[seconds since the strategy started, rss, uss, iteration or None] per sample."""
        out, k = [], 0
        starts = sorted(self.starts)
        for s in sorted(self.sampler.samples, key=lambda s: s.t):
            while k < len(starts) and starts[k][0] <= s.t:
                k += 1
            rss, uss = self.builder.mem(s)
            out.append(
                [
                    round(s.t - self.t0, 3),
                    round(rss, 3) if rss is not None else None,
                    round(uss, 3) if uss is not None else None,
                    starts[k - 1][1] if k else None,
                ]
            )
        return out


def host_load(start: list[float] | None, end: list[float] | None) -> list[float] | None:
    """[1-minute load average at the start, at the end] (None when not readable)."""
    return [start[0], end[0]] if start and end else None


def log_noise(plan) -> tuple[str, ...]:
    """The plan's engine's log lines that are never a crash's cause (its registry entry)."""
    spec = engine_registry.REGISTRY.get(getattr(plan, "engine", ""))
    return spec.log_noise if spec else ()


def apply_scores(rec: IterationRecord, scores: dict) -> None:
    """The scorer's output onto the record: display text, CER/WER, or the alignment check."""
    for key, value in scores.items():
        if key in ("text", "cer", "wer", "alignment"):
            setattr(rec, key, value)
        else:
            rec.other[key] = value


def harness_error(exc: BaseException) -> str:
    """What the user needs to report an orch bug: the exception and the traceback's tail."""
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return f"orch error (parent side) {type(exc).__name__}: {exc}\n{tail[-1500:]}"
