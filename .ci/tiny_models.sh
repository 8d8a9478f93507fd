#!/usr/bin/env bash
# Make the tiny random-weight chatllm.cpp models (`orch make-test-models`) once per machine, into
# a cache outside the clone keyed by the chatllm.cpp checkout and the maker's source. Usage:
# .ci/tiny_models.sh CHATLLM_DIR; prints the models' folder. A failed conversion exits non-zero.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
chatllm="${1:?usage: .ci/tiny_models.sh CHATLLM_DIR}"
maker="$here/orchestrator/engines/chatllm/testmodels.py"
key="$( (basename "$chatllm"; sha1sum <"$maker") | sha1sum | cut -c1-10)"
cache="${ORCH_BUILD_CACHE:-$HOME/.cache/orch-builds}"
dest="$cache/tiny-models-$key"
if [ -f "$dest/.orch-made" ]; then echo "$dest"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/.tiny-models.lock"
flock 9
if [ -f "$dest/.orch-made" ]; then echo "$dest"; exit 0; fi
rm -rf "$dest" "$dest.part"
orch make-test-models --chatllm-dir "$chatllm" --out "$dest.part" >&2
for name in tiny-asr-a tiny-asr-b tiny-aligner; do
  [ -f "$dest.part/$name.bin" ] || { echo "error: make-test-models made no $name.bin" >&2; exit 1; }
done
mv "$dest.part" "$dest"
touch "$dest/.orch-made"
echo "$dest"
