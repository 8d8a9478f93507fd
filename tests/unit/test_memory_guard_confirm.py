"""The guard kills only on a confirmed reading: a fork that has not exec'd yet doubles a
tree's RSS for milliseconds (its pages are shared with the parent), PSS does not."""

import os
import signal

from orchestrator.run.memory_guard import MemoryGuard
from orchestrator.run.sampler import Sample


def sample(rss, swap=0.0):
    return Sample(
        t=1.0,
        rss_mb=rss,
        uss_mb=None,
        pss_mb=None,
        self_rss_mb=rss,
        self_uss_mb=None,
        cpu_user_s=0.0,
        cpu_system_s=0.0,
        procs=2,
        swap_mb=swap,
    )


def test_an_rss_spike_that_pss_does_not_confirm_kills_nothing(monkeypatch):
    killed = []
    monkeypatch.setattr(os, "killpg", lambda pid, sig: killed.append((pid, sig)))
    guard = MemoryGuard(300.0, confirm=lambda pid: 250.0)  # RSS doubled by a fork: PSS says 250
    guard.watch(4242)
    guard(sample(500.0))
    assert guard.tripped is None and killed == []


def test_a_confirmed_crossing_kills_the_group_once(monkeypatch):
    killed = []
    monkeypatch.setattr(os, "killpg", lambda pid, sig: killed.append((pid, sig)))
    guard = MemoryGuard(300.0, confirm=lambda pid: 320.0)
    guard.watch(4242)
    guard(sample(280.0, swap=30.0))  # RSS + swap counts: 310 > 300
    guard(sample(400.0))
    assert killed == [(4242, signal.SIGKILL)]
    assert guard.tripped.rss_mb == 320.0
    assert guard.message("during iteration 3").startswith(
        "memory limit: the worker's process tree reached 320 MB (PSS + swap) during iteration 3, over the 300 MB"
    )


def test_under_the_limit_is_not_even_confirmed():
    calls = []
    guard = MemoryGuard(300.0, confirm=lambda pid: calls.append(pid) or 999.0)
    guard.watch(4242)
    guard(sample(299.0))
    assert calls == [] and guard.tripped is None
