"""Exactly-once records: a Ctrl-C (or any exception) at every step of writing a record,
then the clean-up flush the runner does, leaves every record in the JSONL exactly once.
Deterministic: the interrupt is raised at a named step, not sent at a lucky moment."""

import json

import pytest
from orchestrator.results.model import IterationRecord
from orchestrator.run.plan import RunPlan
from orchestrator.run.record_sink import RecordSink
from orchestrator.run.strategy_runner import StrategyRunner

STEPS = ("truncated", "written", "flushed", "synced", "committed")
N = 4


def records(n=N):
    return [IterationRecord(i=i, text_raw=f"t{i}") for i in range(1, n + 1)]


def lines(path):
    return [json.loads(line)["i"] for line in path.read_text(encoding="utf-8").splitlines()]


class Interrupt:
    """Raises KeyboardInterrupt once, at `step` of the `at`-th record written."""

    def __init__(self, step, at):
        self.step, self.at, self.seen, self.fired = step, at, 0, False

    def __call__(self, name):
        if name == "truncated":
            self.seen += 1
        if not self.fired and name == self.step and self.seen == self.at:
            self.fired = True
            raise KeyboardInterrupt


def runner(tmp_path, scorer=None):
    plan = RunPlan(strategies=["restart"], iters=N, warmup=0, out_dir=tmp_path)
    return StrategyRunner(plan, "restart", {}, None, scorer=scorer)


@pytest.mark.parametrize("at", range(1, N + 1))
@pytest.mark.parametrize("step", STEPS)
def test_interrupt_at_every_step_of_the_flush_then_clean_up(tmp_path, step, at):
    r = runner(tmp_path)
    pending = records()
    r.sink._step = Interrupt(step, at)
    with pytest.raises(KeyboardInterrupt):
        r._write(pending)
    r._write(pending, strict=False)  # what the runner does on its way out
    r.sink.close()
    assert lines(r.jsonl_path) == [1, 2, 3, 4]
    assert [rec.i for rec in r.sink.records] == [1, 2, 3, 4]


@pytest.mark.parametrize("at", range(1, N + 1))
@pytest.mark.parametrize("step", STEPS)
def test_interrupt_without_a_retry_keeps_file_and_records_equal(tmp_path, step, at):
    r = runner(tmp_path)
    r.sink._step = Interrupt(step, at)
    with pytest.raises(KeyboardInterrupt):
        r._write(records())
    r.sink.close()  # no clean-up flush: what was committed, and nothing else
    committed = at if step == "committed" else at - 1
    assert lines(r.jsonl_path) == list(range(1, committed + 1))
    assert [rec.i for rec in r.sink.records] == list(range(1, committed + 1))


def test_a_record_written_twice_is_stored_once(tmp_path):
    sink = RecordSink(tmp_path / "s.jsonl")
    rec = records(1)[0]
    sink.write(rec)
    sink.write(IterationRecord(i=1, text_raw="again"))
    sink.close()
    assert lines(tmp_path / "s.jsonl") == [1]


def test_switch_records_are_keyed_by_model(tmp_path):
    sink = RecordSink(tmp_path / "s.jsonl")
    sink.write(IterationRecord(i=1, model="a"))
    sink.write(IterationRecord(i=1, model="b"))
    sink.write(IterationRecord(i=1, model="a"))
    sink.close()
    assert [r.key for r in sink.records] == [(1, "a"), (1, "b")]


def test_a_failing_scorer_still_writes_every_record_then_raises(tmp_path):
    calls = []

    def scorer(text):
        calls.append(text)
        if text == "t2":
            raise ValueError("scorer broke")
        return {"cer": 0.0}

    r = runner(tmp_path, scorer)
    pending = records()
    with pytest.raises(ValueError, match="scorer broke"):
        r._write(pending)
    r.sink.close()
    assert lines(r.jsonl_path) == [1, 2, 3, 4]
    assert [rec.cer for rec in r.sink.records] == [0.0, None, 0.0, 0.0]
    assert pending == []


def test_progress_is_told_once_per_record(tmp_path):
    seen = []
    sink = RecordSink(tmp_path / "s.jsonl", progress=lambda rec: seen.append(rec.i))
    sink._step = Interrupt("synced", 2)
    recs = records()
    with pytest.raises(KeyboardInterrupt):
        for rec in recs:
            sink.write(rec)
    for rec in recs:
        sink.write(rec)
    sink.close()
    assert seen == [1, 2, 3, 4]


class DiskFills:
    """The disk takes half of the `at`-th line written, then refuses (ENOSPC)."""

    def __init__(self, sink, at):
        self.sink, self.at, self.calls = sink, at, 0
        self.real = sink._write_all

    def __call__(self, data):
        self.calls += 1
        if self.calls < self.at:
            return self.real(data)
        self.sink._file.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")


@pytest.mark.parametrize("at", range(1, N + 1))
def test_a_full_disk_leaves_whole_lines_and_says_which_file(tmp_path, at):
    from orchestrator.errors import ExitCode, WriteFailed

    r = runner(tmp_path)
    r.sink._write_all = DiskFills(r.sink, at)
    with pytest.raises(WriteFailed) as caught:
        r._write(records())
    assert caught.value.message == f"cannot write {r.jsonl_path}: No space left on device"
    assert caught.value.exit_code is ExitCode.FAILED
    assert r.jsonl_path.read_bytes().count(b"\n") == at - 1  # cut back at once, not only at close
    assert r.sink.whole_lines == at - 1
    r.sink.close()
    data = r.jsonl_path.read_bytes()
    assert data == b"" or data.endswith(b"\n")
    assert lines(r.jsonl_path) == list(range(1, at)) == [rec.i for rec in r.sink.records]
