"""The command-line strategies' process handling, on small stand-in programs."""

import subprocess
import sys
from types import SimpleNamespace

from workers import engine_program as cli
from workers import protocol

# a program like chatllm.cpp's `main -i`: on end of input it prompts again, forever
PROMPTS_FOREVER = "import sys\nwhile True:\n    sys.stdout.write('File > '); sys.stdout.flush(); sys.stdin.readline()\n"
LEAVES_ON_EOF = "import sys\nfor line in sys.stdin:\n    pass\n"


def _start(code):
    return subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )


def test_a_program_that_prompts_forever_is_killed_without_waiting_the_grace_out():
    proc = _start(PROMPTS_FOREVER)
    session = SimpleNamespace(notes=[])
    proc.stdin.close()
    cli._end_interactive(session, proc, cli._Streams(proc), b"File > ")
    assert proc.returncode is not None
    # killed for its PROMPT_LOOP prompts, not at the grace's end: the note says which
    assert len(session.notes) == 1
    assert "did not leave when its input closed (printed its prompt" in session.notes[0]
    assert session.notes[0].endswith("killed")


def test_a_silent_program_that_will_not_leave_is_killed_after_the_grace(monkeypatch):
    monkeypatch.setattr(cli, "EXIT_GRACE_S", 0.5)
    proc = _start("import time\ntime.sleep(60)\n")
    session = SimpleNamespace(notes=[])
    proc.stdin.close()
    cli._end_interactive(session, proc, cli._Streams(proc), b"File > ")
    assert proc.returncode is not None
    assert session.notes == [
        "the engine program did not leave when its input closed (did not exit within 0.5 s); killed"
    ]


def test_a_program_that_leaves_on_eof_leaves_no_note():
    proc = _start(LEAVES_ON_EOF)
    session = SimpleNamespace(notes=[])
    proc.stdin.close()
    cli._end_interactive(session, proc, cli._Streams(proc), b"File > ")
    assert proc.returncode == 0
    assert session.notes == []


# --- one-shot programs that abort: at teardown (answer complete) or in the middle ------------
class _Channel:
    def __init__(self):
        self.events = []

    def send(self, event):
        self.events.append(event)

    def phase(self, name, i, model):
        self.events.append(protocol.Phase(name=name, i=i, model=model))


class _Engine:
    def __init__(self, code):
        self.code = code

    def cli_invocation(self, model, request, interactive=False):
        from workers.engines.base import CliInvocation

        return CliInvocation(argv=[sys.executable, "-c", self.code], done_pattern=rb"\n\n\Z")

    def clean_text(self, raw):
        return raw.strip()


def _session(code):
    config = protocol.WorkerConfig(strategy="cli", engine="test", engine_class="m:C", engine_options={}, audio="a.wav")
    return SimpleNamespace(ch=_Channel(), engine=_Engine(code), config=config, models=[None], notes=[])


ABORT = "import os, sys; sys.stdout.write({!r}); sys.stdout.flush(); os.abort()"


def test_abort_after_a_complete_answer_keeps_the_result_and_says_so():
    s = _session(ABORT.format("hello world\n\n"))
    cli.run(s, 1, 3)
    done = [e for e in s.ch.events if isinstance(e, protocol.IterationDone)]
    assert [d.text for d in done] == ["hello world"] * 3
    assert all(d.extra["engine_exit"] == "SIGABRT" for d in done)
    assert s.notes == ["the engine program was killed by SIGABRT after printing its result, in 3 of 3 runs"]


def test_an_empty_but_finished_answer_is_a_result():
    s = _session(ABORT.format("\n\n"))
    cli.run(s, 1, 1)
    assert [e.text for e in s.ch.events if isinstance(e, protocol.IterationDone)] == [""]


def test_abort_in_the_middle_of_the_answer_is_a_crash():
    import pytest

    s = _session(ABORT.format("hello wor"))
    with pytest.raises(cli.EngineCrashed, match="SIGABRT at iteration 1 in the middle of its answer"):
        cli.run(s, 1, 2)
    s = _session(ABORT.format(""))
    with pytest.raises(cli.EngineCrashed, match="before any output"):
        cli.run(s, 1, 2)
