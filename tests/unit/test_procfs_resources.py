"""The resources read at the phase marks (run.procfs): /proc text parsed. A real child's
descriptors, maps and threads counted from outside: tests/integration/test_procfs_processes.py."""

from __future__ import annotations

from orchestrator.run import procfs


def test_maps_text_counts_maps_and_file_bytes():
    text = (
        b"00400000-00401000 r-xp 00000000 08:01 1234 /usr/bin/x\n"
        b"7f0000000000-7f0000002000 rw-p 00000000 00:00 0 \n"
        b"7f0000002000-7f0000004000 r--p 00000000 00:00 0 [heap]\n"
    )
    assert procfs._maps(text) == (3, 0x1000)
