#!/usr/bin/env bash
# The OpenVINO export Python (orchestrator/engines/openvino/export.py: optimum-intel and qwen-asr,
# which pins transformers 4.57.6, beside orch's 5.24), made once per machine into a cache outside
# the clone keyed by its packages, this Python and its torch. Prints the venv's python. Its torch
# is this Python's CPU build (--system-site-packages, pinned by a constraint): no CUDA download.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
packages="$(cd "$here" && python -c 'from orchestrator.engines.openvino.export import VENV_PACKAGES; print(" ".join(VENV_PACKAGES))')"
torch="$(python -c 'import torch; print(torch.__version__.split("+")[0])')"
key="$(printf '%s %s %s' "$packages" "$(python -VV)" "$torch" | sha1sum | cut -c1-10)"
cache="${ORCH_BUILD_CACHE:-$HOME/.cache/orch-builds}"
dest="$cache/openvino-export-$key"
if [ -f "$dest/.orch-made" ]; then echo "$dest/bin/python"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/.openvino-export.lock"
flock 9
if [ -f "$dest/.orch-made" ]; then echo "$dest/bin/python"; exit 0; fi
rm -rf "$dest"
python -m venv --system-site-packages "$dest"
# shellcheck disable=SC2086
"$dest/bin/pip" install -q -c <(echo "torch==$torch") $packages >&2
# torchvision from PyPI does not match torch's CPU build: importing transformers would fail
"$dest/bin/pip" uninstall -y -q torchvision >&2 || true
"$dest/bin/python" -c 'import optimum.intel, qwen_asr, openvino_tokenizers' >&2
touch "$dest/.orch-made"
echo "$dest/bin/python"
