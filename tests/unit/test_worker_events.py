"""The event loop driven by a scripted fake worker: no process, no clock, no files."""

import dataclasses

import pytest
from orchestrator.engines.registry import REGISTRY
from orchestrator.results.model import Status
from orchestrator.run.crash_cause import OomEvidence
from orchestrator.run.record_builder import RecordBuilder
from orchestrator.run.sampler import Sample
from orchestrator.run.strategies import Memory
from orchestrator.run.worker_events import EventLoop, StrategyStopped
from orchestrator.run.worker_process import WorkerExited, WorkerTimeout
from workers import protocol


class FakeWorker:
    name = "fake#1"

    def __init__(self, script, exit_code=0, signal=None, log="", evidence=None):
        self.script = list(script)
        self.log = log
        self.evidence = evidence or OomEvidence()
        self.acks = 0
        self.killed = False
        self.exit_code = exit_code
        self.signal = signal

    def next_event(self, deadline):
        item = self.script.pop(0)
        if isinstance(item, type) and issubclass(item, Exception):
            raise item(self.name)
        return item

    def ack(self):
        self.acks += 1

    def kill(self):
        self.killed = True

    def wait_exit(self, timeout):
        return self.exit_code

    def exit_description(self):
        if self.signal:
            return self.signal, f"worker killed by {self.signal}"
        return None, f"worker exited with code {self.exit_code}"

    def log_tail(self, chars=1500):
        return self.log[-chars:]

    def oom_evidence(self, last_rss_mb):
        return dataclasses.replace(self.evidence, last_rss_mb=last_rss_mb)


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        self.t += 0.001
        return self.t


def sample(rss, self_rss=10.0):
    # two processes: the worker and what it runs (a worker alone measures no engine program)
    return Sample(t=0.0, rss_mb=rss, uss_mb=rss - 5, pss_mb=rss - 2, self_rss_mb=self_rss,
                  self_uss_mb=self_rss - 1, cpu_user_s=0.0, cpu_system_s=0.0, procs=2)


def phase(name, i, model=None):
    return protocol.Phase(name=name, i=i, model=model)


def start(i, t=1.0):
    return protocol.IterationStart(i=i, t=t)


def token(i, text, t):
    return protocol.Token(i=i, text=text, t=t)


def done(i, model=None, text="ab", t_request=1.0, t_first=1.1, t_end=1.3, extra=None):
    return protocol.IterationDone(
        i=i,
        text=text,
        tokens=2,
        t_request=t_request,
        t_first=t_first,
        t_end=t_end,
        model=model,
        load_ms=None,
        extra=extra or {},
    )


def with_extra(script, extra):
    """A request's script whose iteration_done carries `extra`."""
    return script[:-1] + [dataclasses.replace(script[-1], extra=extra)]


def request(i, model=None, base=1.0):
    """One whole request as a worker sends it."""
    return [
        phase("before_infer", i, model),
        start(i, base),
        token(i, "a", base + 0.1),
        token(i, "b", base + 0.2),
        phase("after_infer", i, model),
        done(i, model, t_request=base, t_first=base + 0.1, t_end=base + 0.3),
    ]


class Harness:
    """An EventLoop whose memory marks read 100, 101, 102 ... MB and whose flushes are logged."""

    def __init__(self, memory=Memory.TREE, warmup=0):
        self.rss = 99.0
        self.written = []
        self.flushes = []

        def mark():
            self.rss += 1.0
            return sample(self.rss)

        def flush(pending):
            self.flushes.append([r.i for r in pending])
            while pending:
                self.written.append(pending.pop(0))

        self.loop = EventLoop(RecordBuilder(memory, warmup, None), 30.0, mark, lambda t0, t1: [], flush, clock=Clock())


def test_records_are_flushed_at_the_next_before_infer_mark_with_late_phases():
    h = Harness()
    script = (
        [protocol.Ready(pid=1, engine={"name": "fake"}), phase("before_load", 1), phase("after_load", 1)]
        + request(1)
        + [phase("after_unload", 1), phase("before_load", 2), phase("after_load", 2)]
        + request(2, base=2.0)
        + [phase("after_unload", 2), protocol.Done()]
    )
    wp = FakeWorker(script)
    h.loop.run(wp)
    assert [r.i for r in h.written] == [1, 2]
    first = h.written[0]
    # marks: before_load 100, after_load 101, before_infer 102, after_infer 103, after_unload 104
    assert {k: v.rss_mb for k, v in first.phases.items()} == {
        "before_load": 100.0,
        "after_load": 101.0,
        "before_infer": 102.0,
        "after_infer": 103.0,
        "after_unload": 104.0,
    }
    assert first.rss_mb == 103.0 and first.uss_mb == 98.0 and first.pss_mb == 101.0
    assert first.ttft_ms == pytest.approx(100.0) and first.tokens == 2 and first.text_raw == "ab"
    assert wp.acks == 10 and h.loop.engine_info == {"name": "fake"}
    # record 1 was written while the worker waited at iteration 2's before_infer mark
    assert h.flushes[:3] == [[], [], [1]]


def test_memory_of_an_engine_program_is_the_tree_minus_the_worker():
    h = Harness(memory=Memory.TREE_MINUS_WORKER)
    h.loop.run(FakeWorker(request(1) + [protocol.Done()]))
    rec = h.written[0]
    assert rec.rss_mb == 101.0 - 10.0 and rec.uss_mb == 96.0 - 9.0 and rec.pss_mb is None


def test_one_shot_program_memory_is_the_kernels_peak():
    h = Harness(memory=Memory.KERNEL_MAXRSS)
    script = with_extra(request(1), {"engine_maxrss_mb": 321.0})
    h.loop.run(FakeWorker(script + [protocol.Done()]))
    assert h.written[0].rss_mb == 321.0 and h.written[0].uss_mb is None


def test_token_for_the_wrong_iteration_is_a_protocol_error():
    h = Harness()
    wp = FakeWorker([phase("before_infer", 1), start(1), token(2, "x", 1.1)])
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    assert out.value.status is Status.ERROR
    assert out.value.error == "worker fake#1: token for iteration 2 during 1"
    assert wp.killed


def test_error_event_then_exit_reports_the_error():
    h = Harness()
    wp = FakeWorker(
        request(1) + [protocol.Error(kind="EngineError", message="model gone", traceback=""), WorkerExited],
        exit_code=3,
    )
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    assert out.value.status is Status.ERROR
    assert out.value.error == "EngineError: model gone"
    assert [r.i for r in h.written] == [1]


def test_engine_crash_event_is_a_crash():
    h = Harness()
    wp = FakeWorker(
        [protocol.Error(kind="engine_crashed", message="SIGABRT in main", traceback=""), WorkerExited],
        exit_code=3,
    )
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    assert out.value.status is Status.CRASHED


def test_exit_by_signal_between_requests_names_the_last_mark():
    h = Harness()
    wp = FakeWorker(request(1) + [phase("after_unload", 1), WorkerExited], signal="SIGABRT")
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    assert out.value.status is Status.CRASHED
    assert out.value.error == "worker killed by SIGABRT after iteration 1 (last phase mark: after_unload)"
    assert [r.i for r in h.written] == [1] and "after_unload" in h.written[0].phases


def test_done_then_nonzero_exit_keeps_the_results_and_notes_the_teardown():
    h = Harness()
    wp = FakeWorker(
        request(1) + [protocol.Done(notes=("engine program would not exit",))], exit_code=-6, signal="SIGABRT"
    )
    h.loop.run(wp)
    assert [r.i for r in h.written] == [1]
    assert h.loop.teardown == [
        "fake#1: engine program would not exit",
        "fake#1: worker killed by SIGABRT at exit, after finishing its work",
    ]


def test_done_then_hang_at_exit_is_killed_and_noted():
    h = Harness()
    wp = FakeWorker(request(1) + [protocol.Done()], exit_code=None)
    h.loop.run(wp)
    assert wp.killed
    assert h.loop.teardown == ["fake#1: hung at exit after finishing its work; killed after 10 s"]


def test_timeout_mid_stream_keeps_the_partial_request():
    h = Harness()
    wp = FakeWorker(
        request(1) + [phase("before_infer", 2), start(2, 5.0), token(2, "x", 5.25), token(2, "y", 5.5), WorkerTimeout]
    )
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    assert out.value.status is Status.TIMEOUT
    assert out.value.error.startswith(
        "iteration 2 ran over the 30 s iteration timeout while still streaming (2 chunks so far)"
    )
    assert wp.killed and [r.i for r in h.written] == [1]
    part = h.loop.partial()
    assert part.i == 2 and part.chunks == 2 and part.text_so_far == "xy"
    assert part.ttft_ms == pytest.approx(250.0)


def test_timeout_during_load_says_so():
    h = Harness()
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(FakeWorker([phase("before_load", 1), WorkerTimeout]))
    assert out.value.error == "no progress for 30 s during start-up/load; worker killed"
    assert h.loop.partial() is None


def test_warmup_iterations_are_marked():
    h = Harness(warmup=1)
    h.loop.run(FakeWorker(request(1) + request(2, base=2.0) + [protocol.Done()]))
    assert [r.warmup for r in h.written] == [True, False]


def test_switch_records_keep_their_own_models_marks():
    h = Harness()
    script = (
        request(1, "a")
        + [phase("after_unload", 1, "a")]
        + request(1, "b", base=2.0)
        + [phase("after_unload", 1, "b"), protocol.Done()]
    )
    h.loop.run(FakeWorker(script))
    a, b = h.written
    assert (a.model, b.model) == ("a", "b")
    assert a.phases["after_unload"].rss_mb == 102.0 and b.phases["after_unload"].rss_mb == 105.0


def test_the_engines_ttft_breakdown_is_lifted_out_of_extra():
    h = Harness()
    script = with_extra(request(1), {"ttft_phases": {"audio_decode_ms": 12.5, "prefill_ms": 80.0}, "raw_output": "x"})
    h.loop.run(FakeWorker(script + [protocol.Done()]))
    rec = h.written[0]
    assert rec.ttft_phases == {"audio_decode_ms": 12.5, "prefill_ms": 80.0}
    assert rec.extra == {"raw_output": "x"}


CHATLLM_NOISE = "`requests` is required. use `pip install requests`"


def noisy_harness():
    h = Harness()
    h.loop.noise = REGISTRY["chatllm"].log_noise  # what the chatllm engine's package declares
    return h


def test_a_crash_names_the_abort_message_first_and_drops_the_engines_noise():
    h = noisy_harness()
    log = f"{CHATLLM_NOISE}\nloading model\nfree(): invalid pointer\n"
    wp = FakeWorker([phase("before_infer", 1), start(1), WorkerExited], signal="SIGABRT", log=log)
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    first = out.value.error.splitlines()[0]
    assert first == "worker killed by SIGABRT during iteration 1: free(): invalid pointer"
    assert "requests" not in out.value.error and "loading model" in out.value.error


def test_a_ggml_assertion_in_the_log_is_the_cause():
    h = Harness()
    log = "step 1\n/src/ggml.c:1234: GGML_ASSERT(n_tokens <= n_ctx) failed\nAborted\n"
    wp = FakeWorker([phase("before_infer", 1), start(1), WorkerExited], signal="SIGABRT", log=log)
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    # "Aborted" is the last line naming an abort; the assertion above it is the cause
    first = out.value.error.splitlines()[0]
    assert first == "worker killed by SIGABRT during iteration 1: /src/ggml.c:1234: GGML_ASSERT(n_tokens <= n_ctx) failed"


def test_a_sigkill_without_evidence_is_not_called_an_oom_kill():
    h = Harness()
    evidence = OomEvidence(dmesg=False, oom_kills=0, limit_mb=64000.0)
    wp = FakeWorker([phase("before_infer", 1), start(1), WorkerExited], signal="SIGKILL", evidence=evidence)
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    first = out.value.error.splitlines()[0]
    assert "OOM" not in first
    assert first.startswith("worker killed by signal 9 (SIGKILL) from outside; no sign of an out-of-memory kill")
    assert "kernel log" in first and "cgroup oom_kill count" in first


def test_a_sigkill_with_a_cgroup_oom_kill_is_called_one():
    h = Harness()
    wp = FakeWorker(
        [phase("before_infer", 1), start(1), WorkerExited], signal="SIGKILL", evidence=OomEvidence(oom_kills=1)
    )
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    assert "the kernel's OOM killer (the memory cgroup's oom_kill count rose by 1)" in out.value.error


def test_a_model_that_fails_to_load_says_which_file_and_what_the_engine_said():
    h = noisy_harness()
    log = f"{CHATLLM_NOISE}\nerror: model file /m/qwen.bin: unexpected end of file at offset 4096\n"
    err = protocol.Error(kind="load_failed", message="chatllm.cpp could not load /m/qwen.bin: start() error code 1",
                         traceback="")
    wp = FakeWorker([phase("before_load", 1), err, WorkerExited], exit_code=1, log=log)
    with pytest.raises(StrategyStopped) as out:
        h.loop.run(wp)
    first = out.value.error.splitlines()[0]
    assert "/m/qwen.bin" in first
    assert "the engine said: error: model file /m/qwen.bin: unexpected end of file" in first
    assert "requests" not in out.value.error
