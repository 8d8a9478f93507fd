"""orchestrator.engines.chatllm.elfdebug: section names of an ELF file, debug info present or not."""

from __future__ import annotations

import sys
from pathlib import Path

from orchestrator.engines.chatllm import elfdebug


def test_an_elf_file_has_sections_and_a_yes_or_no_answer():
    exe = Path(sys.executable).resolve()
    names = elfdebug.section_names(exe)
    assert ".text" in names or ".dynsym" in names
    assert elfdebug.has_debug_info(exe) in (True, False)


def test_a_file_that_is_not_elf_gives_no_answer(tmp_path):
    p = tmp_path / "x.so"
    p.write_bytes(b"not an elf file at all")
    assert elfdebug.has_debug_info(p) is None
    assert elfdebug.has_debug_info(tmp_path / "absent.so") is None
