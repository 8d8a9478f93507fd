#!/usr/bin/env bash
# Make the tiny random-weight llama.cpp models (`orch make-test-models --runtime llamacpp
# --only tiny-asr-a`: f16, q8_0, q4_0 text models and the f16 audio encoder) once per machine,
# into a cache outside the clone keyed by the llama.cpp build and the maker's source. Usage:
# .ci/tiny_llamacpp_models.sh LLAMACPP_DIR (what .ci/build_llamacpp.sh printed); prints the
# models' folder (ORCH_TINY_LLAMACPP). A failed conversion exits non-zero.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
llamacpp="${1:?usage: .ci/tiny_llamacpp_models.sh LLAMACPP_DIR}"
makers=("$here"/orchestrator/engines/llamacpp/{testmodels,converter_runner}.py
  "$here"/orchestrator/engines/{qwen3asr_weights,hf_prep}.py)
key="$( (basename "$llamacpp"; cat "${makers[@]}" | sha1sum) | sha1sum | cut -c1-10)"
cache="${ORCH_BUILD_CACHE:-$HOME/.cache/orch-builds}"
dest="$cache/tiny-llamacpp-$key"
if [ -f "$dest/.orch-made" ]; then echo "$dest"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/.tiny-llamacpp.lock"
flock 9
if [ -f "$dest/.orch-made" ]; then echo "$dest"; exit 0; fi
rm -rf "$dest" "$dest.part"
LLAMACPP_SRC="$llamacpp/src" LLAMACPP_BIN="$llamacpp/build/bin" \
  orch make-test-models --runtime llamacpp --only tiny-asr-a --out "$dest.part" >&2
for name in tiny-asr-a-f16 tiny-asr-a-q8_0 tiny-asr-a-q4_0 tiny-asr-a-mmproj-f16; do
  [ -f "$dest.part/$name.gguf" ] || { echo "error: make-test-models made no $name.gguf" >&2; exit 1; }
done
mv "$dest.part" "$dest"
touch "$dest/.orch-made"
echo "$dest"
