""".ci/build_chatllm.sh's build: every object position-independent (main's too, through a
CMake project include), through ccache when it is installed, main before libchatllm, so that
libchatllm's compiles of the core files are ccache hits of main's. The script runs on stand-in
git and cmake (no chatllm.cpp build); the last test configures and compiles a two-file CMake
project the same way with the real cmake, compiler and ccache."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

SCRIPT = REPO / ".ci" / "build_chatllm.sh"
# what the script runs besides git, cmake and ccache (the stand-ins), and chmod (the cmake one's)
TOOLS = ("bash", "dirname", "sha1sum", "cut", "mkdir", "flock", "rm", "touch", "ls", "nproc", "chmod")

# git: a clone is an empty folder at the pinned commit; cmake: each call's folder, arguments and
# ccache environment, one line each, and a --build makes build/bin/main; ccache: only there
FAKE_GIT = """#!/bin/sh
case "$1" in
  clone) mkdir -p "$4";;
  -C) echo 4a4310e;;
esac
"""
FAKE_CMAKE = """#!/bin/sh
echo "$PWD|${CCACHE_DIR:-}|$*" >> "$CALLS"
if [ "$1" = --build ]; then mkdir -p build/bin && printf '#!/bin/sh\\n' > build/bin/main && chmod +x build/bin/main; fi
"""
FAKE_CCACHE = "#!/bin/sh\nexit 0\n"


def run_script(tmp_path: Path, name: str, ccache: bool, flags: str | None = None) -> tuple[Path, list[list[str]], str]:
    """Run the script with PATH holding only the stand-ins and the tools it needs; the
    checkout it printed, cmake's calls (folder, CCACHE_DIR, arguments) and its stderr."""
    bin_dir = tmp_path / f"bin-{name}"
    bin_dir.mkdir()
    for tool in TOOLS:
        found = shutil.which(tool)
        assert found, tool
        (bin_dir / tool).symlink_to(found)
    fakes = {"git": FAKE_GIT, "cmake": FAKE_CMAKE} | ({"ccache": FAKE_CCACHE} if ccache else {})
    for tool, text in fakes.items():
        (bin_dir / tool).write_text(text)
        (bin_dir / tool).chmod(0o755)
    bundle = tmp_path / "chatllm.bundle"
    bundle.touch()
    calls = tmp_path / f"calls-{name}"
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "CALLS": str(calls),
        "CHATLLM_BUNDLE": str(bundle),
        "ORCH_BUILD_CACHE": str(tmp_path / f"cache-{name}"),
        "CHATLLM_JOBS": "2",
    } | ({"CHATLLM_CMAKE_ARGS": flags} if flags is not None else {})
    proc = subprocess.run([str(bin_dir / "bash"), str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    dest = Path(proc.stdout.strip())
    assert (dest / ".orch-built").is_file()
    return dest, [line.split("|") for line in calls.read_text().splitlines()], proc.stderr


def test_main_and_libchatllm_are_built_pic_through_ccache_one_after_the_other(tmp_path):
    dest, calls, _ = run_script(tmp_path, "ccache", ccache=True)
    assert dest.parent == tmp_path / "cache-ccache"
    assert [c[0] for c in calls] == [str(dest)] * 3
    # ccache's cache sits in the build cache, shared by the machine's builds
    assert {c[1] for c in calls} == {str(tmp_path / "cache-ccache" / "ccache")}
    configure, *builds = [c[2].split() for c in calls]
    include = dest / "build" / "orch-pic.cmake"
    assert configure == [
        "-B",
        "build",
        "-DCMAKE_BUILD_TYPE=Release",
        "-DCMAKE_POSITION_INDEPENDENT_CODE=ON",
        f"-DCMAKE_PROJECT_INCLUDE={include}",
        "-DCMAKE_C_COMPILER_LAUNCHER=ccache",
        "-DCMAKE_CXX_COMPILER_LAUNCHER=ccache",
    ]
    # an executable's objects are compiled with the PIC options, not the PIE ones
    for lang in ("C", "CXX"):
        assert f'set(CMAKE_{lang}_COMPILE_OPTIONS_PIE "${{CMAKE_{lang}_COMPILE_OPTIONS_PIC}}")' in include.read_text()
    # main first, then libchatllm, in two builds (never side by side)
    assert builds == [
        ["--build", "build", "-j", "2", "--target", "main"],
        ["--build", "build", "-j", "2", "--target", "libchatllm"],
    ]


def test_without_ccache_the_same_build_and_key_with_no_launcher(tmp_path):
    with_ccache, _, _ = run_script(tmp_path, "ccache", ccache=True)
    dest, calls, _ = run_script(tmp_path, "plain", ccache=False)
    configure = calls[0][2].split()
    assert "-DCMAKE_POSITION_INDEPENDENT_CODE=ON" in configure
    assert not [a for a in configure if "LAUNCHER" in a]
    assert calls[0][1] == ""  # no CCACHE_DIR set
    # ccache changes no output: not part of the key; the flags are
    assert dest.name == with_ccache.name
    other, _, _ = run_script(tmp_path, "debug", ccache=False, flags="-DCMAKE_BUILD_TYPE=Debug")
    assert other.name != dest.name


@pytest.mark.slow
@pytest.mark.skipif(
    not all(shutil.which(t) for t in ("cmake", "c++", "ccache", "make")), reason="needs cmake, c++, make and ccache"
)
def test_the_library_compile_of_a_shared_source_is_a_ccache_hit_of_the_programs(tmp_path):
    """A project shaped like chatllm.cpp's: main and a shared library of the same sources, the
    library with a -D only main.cpp reads. Configured as the script does, the library's compile of
    core.cpp is a preprocessor-mode hit of main's; main.cpp, which the -D changes, is not."""
    _, calls, _ = run_script(tmp_path, "ccache", ccache=True)
    args = calls[0][2].split()[3:]  # after -B build -DCMAKE_BUILD_TYPE=Release
    src = tmp_path / "project"
    src.mkdir()
    (src / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.12)\n"
        "project(T CXX)\n"
        "add_executable(main main.cpp core.cpp)\n"
        "add_library(lib SHARED EXCLUDE_FROM_ALL main.cpp core.cpp)\n"
        "target_compile_definitions(lib PUBLIC SHARED_LIB)\n"
    )
    (src / "core.cpp").write_text("int core(int x) { return x * 3; }\n")
    (src / "main.cpp").write_text(
        "int core(int);\n#ifndef SHARED_LIB\nint main() { return core(0); }\n#else\nint api() { return core(1); }\n#endif\n"
    )
    env = {**os.environ, "CCACHE_DIR": str(tmp_path / "ccache"), "CCACHE_STATSLOG": str(tmp_path / "stats.log")}
    build = tmp_path / "build"

    def cmake(*a: str) -> None:
        proc = subprocess.run(["cmake", *a], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr

    cmake("-S", str(src), "-B", str(build), "-G", "Unix Makefiles", "-DCMAKE_BUILD_TYPE=Release", *args)
    flags = {t: (build / "CMakeFiles" / f"{t}.dir" / "flags.make").read_text() for t in ("main", "lib")}
    (main_flags,) = re.findall(r"^CXX_FLAGS = (.*)$", flags["main"], re.M)
    (lib_flags,) = re.findall(r"^CXX_FLAGS = (.*)$", flags["lib"], re.M)
    assert "-fPIC" in main_flags.split() and main_flags == lib_flags
    cmake("--build", str(build), "--target", "main")
    cmake("--build", str(build), "--target", "lib")
    # the stats log: one "# <source>" line, then its counters, per compile
    log = (tmp_path / "stats.log").read_text().split("# ")[1:]
    outcome = {}
    for entry in log:
        name, *counters = entry.split()
        outcome.setdefault(Path(name).name, []).append("hit" if "preprocessed_cache_hit" in counters else "miss")
    assert outcome == {"main.cpp": ["miss", "miss"], "core.cpp": ["miss", "hit"]}
    assert (build / "main").exists()
