#!/usr/bin/env bash
# Build chatllm.cpp's `main` and `libchatllm` from the vendored git bundle, once per machine,
# into a cache outside the clone keyed by commit and build flags. Prints the checkout's path.
# CHATLLM_DEST builds in that folder instead (the Containerfile's CHATLLM_FROM=bundle: the
# binaries' RUNPATH is the build's own path); CHATLLM_JOBS: compile jobs (default: all CPUs).
# A missing bundle or a failed build exits non-zero (CI fails loudly, never a silent skip).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
bundle="${CHATLLM_BUNDLE:-$here/../shared/vendor/chatllm.cpp-4a4310e.bundle}"
commit=4a4310e
flags="${CHATLLM_CMAKE_ARGS:--DCMAKE_BUILD_TYPE=Release}"
key="$(printf '%s %s' "$commit" "$flags" | sha1sum | cut -c1-10)"
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
# shellcheck disable=SC2086
(cd "$dest" && cmake -B build $flags >&2 && cmake --build build -j "${CHATLLM_JOBS:-$(nproc)}" --target main libchatllm >&2)
[ -x "$dest/build/bin/main" ] || { echo "error: chatllm.cpp build made no build/bin/main" >&2; exit 1; }
ls "$dest"/bindings/libchatllm.so >/dev/null 2>&1 || ls "$dest"/build/lib/libchatllm.so >&2 || true
touch "$dest/.orch-built"
echo "$dest"
