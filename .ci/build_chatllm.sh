#!/usr/bin/env bash
# Build chatllm.cpp's `main` and `libchatllm` from the vendored git bundle, once per machine,
# into a cache outside the clone keyed by commit and build flags. Prints the checkout's path.
# CHATLLM_DEST builds in that folder instead (the Containerfile's CHATLLM_FROM=bundle: the
# binaries' RUNPATH is the build's own path); CHATLLM_JOBS: compile jobs (default: all CPUs).
# With ccache installed it compiles through it (CCACHE_DIR: default <cache>/ccache), so that
# `libchatllm`, which compiles every source of `main` again, takes them from the cache (below).
# A missing bundle or a failed build exits non-zero (CI fails loudly, never a silent skip).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bundle="${CHATLLM_BUNDLE:-$here/../shared/vendor/chatllm.cpp-4a4310e.bundle}"
commit=4a4310e
flags="${CHATLLM_CMAKE_ARGS:--DCMAKE_BUILD_TYPE=Release}"
# Every object position-independent, main's too: CMake compiles an executable's objects with
# -fPIE and a shared library's with -fPIC, and this project include (CMAKE_PROJECT_INCLUDE, read
# after each project()) makes the first -fPIC as well. main's and libchatllm's compiles of a
# core file then differ only in -D flags (CHATLLM_SHARED_LIB, libchatllm_EXPORTS) that only
# src/main.cpp reads: the same preprocessor output, which is what ccache's preprocessor mode
# hashes with the other flags, so libchatllm's compiles are cache hits of main's. main links as
# before (a PIE, gcc's default). It changes main's objects, so it is part of the key; ccache
# changes no output and is not.
# shellcheck disable=SC2016  # CMake's ${...}, written as is
pic='set(CMAKE_C_COMPILE_OPTIONS_PIE "${CMAKE_C_COMPILE_OPTIONS_PIC}")
set(CMAKE_CXX_COMPILE_OPTIONS_PIE "${CMAKE_CXX_COMPILE_OPTIONS_PIC}")'
key="$(printf '%s %s -DCMAKE_POSITION_INDEPENDENT_CODE=ON %s' "$commit" "$flags" "$pic" | sha1sum | cut -c1-10)"
cache="${ORCH_BUILD_CACHE:-$HOME/.cache/orch-builds}"
dest="${CHATLLM_DEST:-$cache/chatllm.cpp-$commit-$key}"
if [ -f "$dest/.orch-built" ]; then echo "$dest"; exit 0; fi
[ -f "$bundle" ] || { echo "error: chatllm.cpp bundle not found at $bundle" >&2; exit 1; }
mkdir -p "$cache"
exec 9>"$cache/.chatllm.lock"
flock 9
if [ -f "$dest/.orch-built" ]; then echo "$dest"; exit 0; fi
rm -rf "$dest"
git clone -q "$bundle" "$dest" >&2
head="$(git -C "$dest" rev-parse --short=7 HEAD)"
[ "$head" = "$commit" ] || { echo "error: bundle HEAD is $head, expected $commit" >&2; exit 1; }
mkdir -p "$dest/build"
printf '%s\n' "$pic" >"$dest/build/orch-pic.cmake"
args=(-DCMAKE_POSITION_INDEPENDENT_CODE=ON "-DCMAKE_PROJECT_INCLUDE=$dest/build/orch-pic.cmake")
ccache=0
if command -v ccache >/dev/null; then
  ccache=1
  # shared by the builds of a machine (CI's clean clones too); a build's own counts in its
  # build/ccache-stats.log. With a launcher given, ggml's own ccache lookup (GGML_CCACHE) stays off.
  # No CCACHE_BASEDIR: with upstream's -g ccache hashes the build folder all the same, and a base
  # dir would have it compile with relative paths (__FILE__, debug info): output ccache changed.
  export CCACHE_DIR="${CCACHE_DIR:-$cache/ccache}" CCACHE_STATSLOG="$dest/build/ccache-stats.log"
  args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
jobs="${CHATLLM_JOBS:-$(nproc)}"
# one target after the other, main first, so libchatllm's compiles find main's in the cache
# shellcheck disable=SC2086  # word splitting of the flags is meant: a list of arguments
(cd "$dest" && cmake -B build $flags "${args[@]}" >&2 \
  && cmake --build build -j "$jobs" --target main >&2 \
  && cmake --build build -j "$jobs" --target libchatllm >&2)
# (ccache 4.7 crashes on --show-log-stats without a log: only when there is one)
if [ "$ccache" = 1 ] && [ -s "$CCACHE_STATSLOG" ]; then
  echo "ccache, this build (the hits: libchatllm's compiles of main's sources):" >&2
  ccache --show-log-stats >&2 || true
fi
[ -x "$dest/build/bin/main" ] || { echo "error: chatllm.cpp build made no build/bin/main" >&2; exit 1; }
ls "$dest"/bindings/libchatllm.so >/dev/null 2>&1 || ls "$dest"/build/lib/libchatllm.so >&2 || true
touch "$dest/.orch-built"
echo "$dest"
