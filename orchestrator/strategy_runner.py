"""Runs one strategy: starts its worker process(es), answers phase marks with a memory
sample, turns events into iteration records and appends each record to
`<run_dir>/<strategy>.jsonl` exactly once (record_sink), so a crash, hang, Ctrl-C or a bug
on the parent's side loses nothing already measured.

A record is complete when the next request is about to start or the worker ends: phase
marks that come after a request (`after_unload` in `recreate`) still belong to it. Records
are scored and written while the worker waits at its `before_infer` mark (or after it is
gone), never while it is inside a measured request.
"""

from __future__ import annotations

import datetime as _dt
import time
import traceback
from pathlib import Path

from orchestrator import metrics
from orchestrator.record_sink import RecordSink
from orchestrator.sampler import Sample, Sampler
from orchestrator.worker_process import WorkerExited, WorkerProcess, WorkerTimeout
from workers import protocol

# command-line strategies: the engine is a child of the worker, so its memory is the
# tree's minus the worker's own
CLI_STRATEGIES = ("cli", "cli-interactive")
TEARDOWN_TIMEOUT_S = 10.0


def wall(t_monotonic: float) -> str:
    """A monotonic stamp (system-wide on Linux) as wall-clock ISO-8601."""
    t = time.time() - (time.monotonic() - t_monotonic)
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).isoformat(timespec="milliseconds")


class Outcome(Exception):
    """Ends a strategy early with a status other than ok."""

    def __init__(self, status: str, error: str):
        super().__init__(error)
        self.status = status
        self.error = error


class StrategyRunner:
    def __init__(self, plan, strategy: str, worker_config: dict, audio_s: float | None,
                 scorer=None, progress=None):
        self.plan = plan
        self.strategy = strategy
        self.base_config = worker_config
        self.audio_s = audio_s
        self.scorer = scorer  # text_raw -> {"text", "cer", "wer"} (quality pipeline) or None
        self.progress = progress
        self.sampler = Sampler(plan.sample_hz)
        self.engine_info: dict | None = None
        self.teardown: list[str] = []
        self.starts: list[tuple[float, int]] = []  # (parent time, i) of every request
        self.t0 = time.monotonic()
        Path(plan.run_dir).mkdir(parents=True, exist_ok=True)
        self.jsonl_path = Path(plan.run_dir) / f"{strategy}.jsonl"
        self.log_path = Path(plan.run_dir) / f"{strategy}.worker.log"
        self.sink = RecordSink(self.jsonl_path, progress)
        self.partial: dict | None = None  # the iteration a crash, hang or Ctrl-C cut off

    # ---------------------------------------------------------------- public
    def run(self) -> dict:
        status, error = "ok", None
        try:
            if self.strategy == "fresh-process":
                for i in range(1, self.plan.iters + 1):
                    for model in self.base_config.get("models") or [None]:
                        self._run_worker(first_i=i, iters=1, models=[model] if model else [])
            else:
                self._run_worker(first_i=1, iters=self.plan.iters,
                                 models=self.base_config.get("models") or [])
        except Outcome as out:
            status, error = out.status, out.error
        except KeyboardInterrupt:
            status, error = "interrupted", "interrupted by the user (Ctrl-C)"
        except Exception as exc:  # a bug on the parent's side ends this strategy, not the run
            status, error = "error", _harness_error(exc)
        finally:
            self.sampler.stop()
            self.sink.close()
        return {"status": status, "error": error, "iterations": self.sink.records,
                "engine_info": self.engine_info, "teardown": self.teardown,
                "samples": self._compact_samples(), "partial": self.partial}

    # ---------------------------------------------------------------- worker
    def _run_worker(self, first_i: int, iters: int, models: list) -> None:
        config = {**self.base_config, "first_i": first_i, "iters": iters, "models": models}
        st = _WorkerState()
        with WorkerProcess(f"{self.strategy}#{first_i}", config, self.log_path) as wp:
            self.sampler.watch(wp.pid)
            try:
                self._event_loop(wp, st)
            except Outcome:
                self.partial = self._partial(st)
                raise
            except BaseException:  # Ctrl-C or a bug here: stop the worker, keep what it measured
                wp.kill()
                self._flush(st, strict=False)
                self.partial = self._partial(st)
                raise
            finally:
                self.sampler.unwatch()

    def _event_loop(self, wp: WorkerProcess, st: "_WorkerState") -> None:
        timeout = self.plan.iter_timeout
        deadline = time.monotonic() + timeout
        error_event = None
        while True:
            try:
                ev = wp.next_event(deadline)
            except WorkerTimeout:
                wp.kill()
                self._flush(st)
                if st.current_i and st.chunks:
                    raise Outcome("timeout", f"iteration {st.current_i} ran over the {timeout:g} s "
                                  f"iteration timeout while still streaming ({len(st.chunks)} chunks so far); "
                                  "worker killed (bound the output, e.g. --max-new-tokens)") from None
                where = f"iteration {st.current_i}" if st.current_i else "start-up/load"
                raise Outcome("timeout", f"no progress for {timeout:g} s during {where}; "
                                         f"worker killed") from None
            except WorkerExited:
                self._flush(st)
                sig, how = wp.exit_description()
                log = wp.log_tail(600).strip()
                log = f"\nworker log tail:\n{log}" if log else ""
                if error_event:
                    status = "crashed" if error_event["kind"] == "engine_crashed" else "error"
                    raise Outcome(status, f"{error_event['kind']}: {error_event['message']}"
                                  + (f"\n{error_event['traceback']}" if error_event["traceback"] else "")
                                  + log) from None
                if st.current_i:
                    where = f"during iteration {st.current_i}"
                elif st.last_done_i:  # between requests: in an unload, a destroy, a re-load
                    where = f"after iteration {st.last_done_i} (last phase mark: {st.last_phase or 'none'})"
                else:
                    where = "before its first request"
                if sig:
                    raise Outcome("crashed", f"{how} {where}{log}") from None
                raise Outcome("error", f"{how} {where} without a result{log}") from None
            except protocol.ProtocolError as exc:
                wp.kill()
                self._flush(st)
                raise Outcome("error", str(exc)) from None

            kind = ev["type"]
            if kind == "ready":
                self.engine_info = ev["engine"]
            elif kind == "phase":
                sample = self.sampler.mark()
                st.add_phase(ev, sample)
                if ev["name"] == "before_infer":
                    self._flush(st)  # the worker waits for the ack: nothing is being measured
                wp.ack()
                if ev["name"] == "before_load":
                    deadline = time.monotonic() + timeout  # each load gets the full time
            elif kind == "iteration_start":
                self._flush(st)  # a no-op after its before_infer mark
                st.current_i = ev["i"]
                st.t_request = ev["t"]  # the worker's clock, like the chunks' stamps
                st.started = time.monotonic()
                self.starts.append((st.started, ev["i"]))
                st.chunks = []
                deadline = st.started + timeout
            elif kind == "token":
                if ev["i"] != st.current_i:
                    raise protocol.ProtocolError(
                        f"worker {wp.name}: token for iteration {ev['i']} during {st.current_i}")
                st.chunks.append((ev["text"], ev["t"]))
            elif kind == "iteration_done":
                st.pending.append(self._record(ev, st))
                st.last_done_i = ev["i"]
                st.current_i = None
            elif kind == "error":
                error_event = ev
            elif kind == "done":
                self._flush(st)
                self.teardown += [f"{wp.name}: {note}" for note in ev.get("notes") or []]
                code = wp.wait_exit(TEARDOWN_TIMEOUT_S)
                if code is None:
                    wp.kill()
                    self.teardown.append(f"{wp.name}: hung at exit after finishing its work; "
                                         f"killed after {TEARDOWN_TIMEOUT_S:g} s")
                elif code != 0:
                    sig, how = wp.exit_description()
                    self.teardown.append(f"{wp.name}: {how} at exit, after finishing its work")
                return

    def _partial(self, st: "_WorkerState") -> dict | None:
        """What the cut-off iteration had produced: kept apart from the records (it is no
        finished request, so it enters no statistic) but not lost."""
        if st.current_i is None:
            return None
        # the same timing rules as a finished record, up to the last chunk that arrived
        t_end = st.chunks[-1][1] if st.chunks else st.t_request
        timing = metrics.timing({"t_request": st.t_request, "t_end": t_end}, st.chunks, None)
        return {"i": st.current_i, "chunks": len(st.chunks),
                "text_so_far": "".join(text for text, _ in st.chunks),
                "ttft_ms": timing["ttft_ms"], "tokens": timing["tokens"], "itl_ms_p50": timing["itl_ms_p50"],
                "elapsed_s": time.monotonic() - st.started}

    # ---------------------------------------------------------------- records
    def _mem(self, sample: Sample | None) -> tuple[float | None, float | None]:
        if sample is None:
            return None, None
        if self.strategy in CLI_STRATEGIES:
            return sample.engine_rss_mb, sample.engine_uss_mb
        return sample.rss_mb, sample.uss_mb

    def _record(self, done: dict, st: "_WorkerState") -> dict:
        i, model = done["i"], done["model"]
        rec = {"i": i, "model": model, "warmup": i <= self.plan.warmup,
               "started_at": wall(done["t_request"]), "ended_at": wall(done["t_end"])}
        rec.update(metrics.timing(done, st.chunks, self.audio_s))
        rec["load_ms"] = done["load_ms"]
        rec["chunks"] = len(st.chunks)
        rec["text_raw"] = done["text"]
        rec["text"] = done["text"]
        after = st.phases.get((i, model, "after_infer"))
        rss, uss = self._mem(after)
        extra = done.get("extra") or {}
        if self.strategy == "cli":
            # the one-shot program is gone by the mark: its peak from the kernel stands in
            rss, uss = extra.get("engine_maxrss_mb"), None
        rec["rss_mb"], rec["uss_mb"] = rss, uss
        rec["pss_mb"] = after.pss_mb if after and self.strategy not in CLI_STRATEGIES else None
        rec["worker_rss_mb"] = after.self_rss_mb if after else None
        window = self.sampler.between(st.started or 0.0, time.monotonic())
        peaks = [self._mem(s)[0] for s in window] + [rss]
        rec["peak_rss_mb"] = max((p for p in peaks if p is not None), default=None)
        rec["phases"] = {}
        for name in protocol.PHASES:
            s = st.phases.get((i, model, name))
            if s:
                rec["phases"][name] = self._phase_entry(s)
        if extra:
            rec["extra"] = extra
        return rec

    def _phase_entry(self, s: Sample) -> dict:
        rss, uss = self._mem(s)
        return {"rss_mb": rss, "uss_mb": uss, "self_rss_mb": s.self_rss_mb, "procs": s.procs}

    def _flush(self, st: "_WorkerState", strict: bool = True) -> None:
        """Complete pending records (late phase marks, quality scores) and write them, each
        exactly once. A record whose scoring fails is written unscored; with `strict` the
        failure is raised after every pending record is on disk."""
        failure: BaseException | None = None
        while st.pending:
            rec = st.pending[0]
            if not self.sink.has(rec):
                for name in protocol.PHASES:
                    s = st.phases.get((rec["i"], rec["model"], name))
                    if s and name not in rec["phases"]:
                        rec["phases"][name] = self._phase_entry(s)
                if self.scorer:
                    try:
                        rec.update(self.scorer(rec["text_raw"]))
                    except Exception as exc:
                        failure = failure or exc
                self.sink.write(rec)
            st.pending.pop(0)
        if failure is not None and strict:
            raise failure

    def _compact_samples(self) -> list:
        """[seconds since the strategy started, rss, uss, iteration or None] per sample."""
        out, k = [], 0
        starts = sorted(self.starts)
        for s in sorted(self.sampler.samples, key=lambda s: s.t):
            while k < len(starts) and starts[k][0] <= s.t:
                k += 1
            rss, uss = self._mem(s)
            out.append([round(s.t - self.t0, 3), round(rss, 3) if rss is not None else None,
                        round(uss, 3) if uss is not None else None,
                        starts[k - 1][1] if k else None])
        return out


def _harness_error(exc: BaseException) -> str:
    """What the user needs to report an orch bug: the exception and the traceback's tail."""
    tail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return f"orch error (parent side) {type(exc).__name__}: {exc}\n{tail[-1500:]}"


class _WorkerState:
    def __init__(self):
        self.current_i: int | None = None
        self.started: float | None = None
        self.chunks: list[tuple[str, float]] = []
        self.phases: dict[tuple, Sample] = {}
        self.pending: list[dict] = []
        self.last_done_i: int | None = None
        self.t_request: float | None = None
        self.last_phase: str | None = None

    def add_phase(self, ev: dict, sample: Sample | None) -> None:
        self.last_phase = ev["name"]
        if sample is not None:
            self.phases[(ev["i"], ev["model"], ev["name"])] = sample
