"""The guard kills only on a confirmed reading: a fork that has not exec'd yet doubles a
tree's RSS for milliseconds (its pages are shared with the parent), PSS does not."""

import os
import signal
import subprocess
import sys

from orchestrator.run.memory_guard import MemoryGuard, tree_pss_mb
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


def test_pss_of_a_forked_tree_counts_shared_pages_once():
    # a parent with 200 MB touched, then a fork that sleeps without exec: RSS counts 400 MB
    code = (
        "import os, time\nb = bytearray(200 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
        "if os.fork():\n    print('ready', flush=True)\ntime.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == b"ready"  # the parent, after the fork
        from orchestrator.run.sampler import read_tree

        s = read_tree(proc.pid, full=True)
        assert s.procs == 2 and s.rss_mb > 390
        assert tree_pss_mb(proc.pid) < 0.6 * s.rss_mb  # the 200 MB once, not twice
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
