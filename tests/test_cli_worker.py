"""The command-line strategies' process handling, on small stand-in programs."""

import subprocess
import sys
import time
from types import SimpleNamespace

from workers import cli

# a program like chatllm.cpp's `main -i`: on end of input it prompts again, forever
PROMPTS_FOREVER = "import sys\nwhile True:\n    sys.stdout.write('File > '); sys.stdout.flush(); sys.stdin.readline()\n"
LEAVES_ON_EOF = "import sys\nfor line in sys.stdin:\n    pass\n"


def _start(code):
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, bufsize=0)


def test_a_program_that_will_not_leave_is_killed_and_reported(monkeypatch):
    monkeypatch.setattr(cli, "EXIT_GRACE_S", 0.5)
    proc = _start(PROMPTS_FOREVER)
    session = SimpleNamespace(notes=[])
    proc.stdin.close()
    t0 = time.monotonic()
    cli._end_interactive(session, proc, cli._Streams(proc), b"File > ")
    assert proc.returncode is not None and time.monotonic() - t0 < 5
    assert len(session.notes) == 1
    assert "did not exit within 0.5 s" in session.notes[0] and "killed" in session.notes[0]


def test_a_program_that_leaves_on_eof_leaves_no_note():
    proc = _start(LEAVES_ON_EOF)
    session = SimpleNamespace(notes=[])
    proc.stdin.close()
    cli._end_interactive(session, proc, cli._Streams(proc), b"File > ")
    assert proc.returncode == 0
    assert session.notes == []
