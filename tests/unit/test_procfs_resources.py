"""The resources read at the phase marks (run.procfs): a child that opens descriptors, maps
and threads is counted exactly, from outside."""

from __future__ import annotations

import subprocess
import sys

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


def test_maps_text_counts_maps_and_file_bytes():
    text = (
        b"00400000-00401000 r-xp 00000000 08:01 1234 /usr/bin/x\n"
        b"7f0000000000-7f0000002000 rw-p 00000000 00:00 0 \n"
        b"7f0000002000-7f0000004000 r--p 00000000 00:00 0 [heap]\n"
    )
    assert procfs._maps(text) == (3, 0x1000)
