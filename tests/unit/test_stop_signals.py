"""orchestrator.stop_signals: inside `handled()` SIGTERM and SIGHUP raise a KeyboardInterrupt
that names the signal and gives the shell's exit code; a second one while the first is being
handled is ignored; the handlers before it come back after."""

from __future__ import annotations

import os
import signal

import pytest
from orchestrator import stop_signals
from orchestrator.errors import ExitCode


@pytest.mark.parametrize("sig, code, name", [
    (signal.SIGTERM, ExitCode.TERMINATED, "SIGTERM"),
    (signal.SIGHUP, ExitCode.HANGUP, "SIGHUP"),
])
def test_a_signal_is_a_keyboard_interrupt_with_its_exit_code(sig, code, name):
    before = signal.getsignal(sig)
    with pytest.raises(KeyboardInterrupt) as caught, stop_signals.handled():
        os.kill(os.getpid(), sig)
    assert isinstance(caught.value, stop_signals.Stopped) and caught.value.signum == sig
    assert (stop_signals.reason(), stop_signals.exit_code(), int(code)) == (name, code, 128 + sig)
    assert signal.getsignal(sig) is before


def test_the_second_signal_does_not_cut_the_writing_short():
    written = []
    with pytest.raises(KeyboardInterrupt), stop_signals.handled():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:  # what a command does on the way out: keep what was measured
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGHUP)
            written.append("run.json")
    assert written == ["run.json"] and stop_signals.exit_code() is ExitCode.TERMINATED


def test_ctrl_c_is_still_130():
    with pytest.raises(KeyboardInterrupt), stop_signals.handled():
        raise KeyboardInterrupt
    assert (stop_signals.reason(), stop_signals.exit_code()) == ("Ctrl-C", ExitCode.INTERRUPTED)


def test_a_signal_ignored_at_start_stays_ignored():
    """nohup ignores SIGHUP for the command it starts: orch must not take it back (a closed
    ssh session would stop a `nohup orch soak`); SIGTERM, not ignored, is still handled."""
    old_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with stop_signals.handled():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is stop_signals._handler
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old_hup)
