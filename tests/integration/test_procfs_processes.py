"""run.procfs on real processes, read from outside: a child that opens descriptors, maps and
threads is counted exactly, and a tree's CPU seconds count a busy grandchild (the parsing and
the arithmetic: tests/unit/test_procfs_resources.py, tests/unit/test_cpu_cost.py)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from orchestrator.run import procfs

pytestmark = pytest.mark.skipif(not procfs.AVAILABLE, reason="needs Linux /proc")

CHILD = """
import mmap, os, sys, threading
from workers.engines.calibration import leak_resources
for line in sys.stdin:
    n = int(line)
    leak_resources(0, n, n)
    print("done", flush=True)
"""


def test_fds_and_maps_of_a_child_are_counted_exactly():
    child = subprocess.Popen([sys.executable, "-c", CHILD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        reader = procfs.TreeReader(child.pid)
        readings = []
        for n in (0, 2, 2, 2):
            child.stdin.write(f"{n}\n")
            child.stdin.flush()
            assert child.stdout.readline().strip() == "done"
            reader.rows(full=True)
            resources, cpu = reader.resources(), reader.cpu_seconds()
            readings.append(resources)
            assert cpu is not None and cpu >= 0
        assert [r["fds"] - readings[0]["fds"] for r in readings] == [0, 2, 4, 6]
        assert [r["maps"] - readings[0]["maps"] for r in readings] == [0, 2, 4, 6]
        assert readings[0]["threads"] == 1 and readings[0]["vm_size_mb"] >= readings[0]["vm_hwm_mb"] > 0
        assert procfs.reset_peak(list(reader.pids)) in (True, False)  # permitted or not, never raises
        reader.close()
    finally:
        child.stdin.close()
        child.wait(30)


def test_a_tree_s_cpu_counts_a_busy_grandchild():
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time\\nt=time.process_time()\\nwhile time.process_time()-t<0.3: pass\\nimport sys; sys.stdin.read()'], stdin=sys.stdin)"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (procfs.tree_cpu_s(child.pid) or 0.0) < 0.25:
            time.sleep(0.05)
        assert (procfs.tree_cpu_s(child.pid) or 0.0) >= 0.25  # at least the grandchild's busy loop
    finally:
        child.stdin.close()
        child.wait(30)
    assert procfs.tree_cpu_s(child.pid) is None  # gone
