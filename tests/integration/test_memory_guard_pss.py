"""The guard's confirming reading on a real process tree: a fork that has not exec'd yet
doubles the tree's RSS (its pages are shared with the parent), PSS counts them once
(tests/unit/test_memory_guard_confirm.py has the guard's decisions on given samples)."""

import os
import signal
import subprocess
import sys

from orchestrator.run.memory_guard import tree_pss_mb


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
