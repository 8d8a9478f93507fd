#!/usr/bin/env bash
# Build the orch image and run it end to end (docs/deploy.md): `orch doctor`, `orch selftest`,
# tiny models made inside with the image's own chatllm.cpp, then `orch compare --all --engine
# chatllm` on them with the results on a mounted volume; checks every exit code and that the
# results are on the host. Not part of .ci/run: the image build takes the better part of an hour
# on 2 cores (docs/deploy.md).
#
# Environment (all optional):
#   CONTAINER            podman or docker (default: podman when installed, else docker)
#   CONTAINER_OPTS       global options of that command, e.g. "--runtime runc"
#   CONTAINER_LIMITS     options given to build and run, e.g. "--ulimit nofile=20000:20000"
#   IMAGE                tag to build (default localhost/orch:check)
#   BASE_IMAGE           the FROM image (default: the Containerfile's, Debian bookworm-slim);
#                        when it is not there it is made with debootstrap (root, no registry needed)
#   DEBIAN_MIRROR        for debootstrap (default http://deb.debian.org/debian)
#   CHATLLM_SRC          a local chatllm.cpp git checkout for an offline build (a clean clone of
#                        it at CHATLLM_COMMIT is what the build sees); default: the public repository
#   CHATLLM_BUNDLE_DIR   a folder holding the vendored git bundle (../shared/vendor) for an offline
#                        build with .ci/build_chatllm.sh (CHATLLM_FROM=bundle; not with CHATLLM_SRC)
#   CHATLLM_COMMIT       default: the Containerfile's
#   CHATLLM_DESTROY_FIX  1: build with the destroy fix (default 0)
#   EXTRA_CA             a file of extra CA certificates for the build's downloads (default: the
#                        *.crt in /usr/local/share/ca-certificates, if any); a build secret only
#   WHEELS_DIR           a folder with the CPU torch wheel (default: fetched from its index)
#   BUILD_JOBS           compile jobs (default: all CPUs)
#   ITERS                iterations of the compare (default 10)
#   KEEP=1               keep the work folder (models, results, logs) and print where it is
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'container_check: %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

CONTAINER=${CONTAINER:-$(command -v podman >/dev/null && echo podman || echo docker)}
# shellcheck disable=SC2206  # word splitting of the option strings is meant
C=("$CONTAINER" ${CONTAINER_OPTS:-})
# shellcheck disable=SC2206
LIMITS=(${CONTAINER_LIMITS:-})
IMAGE=${IMAGE:-localhost/orch:check}
default_arg() { sed -n "s/^ARG $1=//p" Containerfile | head -n 1; }
BASE_IMAGE=${BASE_IMAGE:-$(default_arg BASE_IMAGE)}
CHATLLM_COMMIT=${CHATLLM_COMMIT:-$(default_arg CHATLLM_COMMIT)}
CHATLLM_DESTROY_FIX=${CHATLLM_DESTROY_FIX:-0}
ITERS=${ITERS:-10}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/orch-container-check.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then
    trap 'say "work folder kept: $WORK"' EXIT
else
    trap 'rm -rf "$WORK"' EXIT
fi
TIMES=()
timed() {  # timed LABEL command...: runs it, records its seconds, returns its exit code
    local label=$1 start rc=0
    shift
    start=$(date +%s)
    "$@" || rc=$?
    TIMES+=("$label: $(($(date +%s) - start)) s (exit $rc)")
    return "$rc"
}

# ---------------------------------------------------------------- the base image
make_base() {
    command -v debootstrap >/dev/null || die "$BASE_IMAGE is not there and debootstrap is not installed (apt-get install debootstrap)"
    [ "$(id -u)" = 0 ] || die "$BASE_IMAGE is not there: making it with debootstrap needs root"
    say "$BASE_IMAGE is not there: making it (debootstrap --variant=minbase bookworm)"
    local root=$WORK/rootfs mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
    debootstrap --variant=minbase bookworm "$root" "$mirror" > "$WORK/debootstrap.log" 2>&1 \
        || { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root/etc/apt/sources.list"
    # the sources Debian's own bookworm-slim image has
    cat > "$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    tar -C "$root" -c . | "${C[@]}" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' - "$BASE_IMAGE" > /dev/null
    rm -rf "$root"
}
if ! "${C[@]}" image inspect "$BASE_IMAGE" > /dev/null 2>&1; then
    timed "base image (debootstrap + import)" make_base || die "could not make $BASE_IMAGE"
fi

# ---------------------------------------------------------------- build
BUILD=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "CHATLLM_COMMIT=$CHATLLM_COMMIT"
       --build-arg "CHATLLM_DESTROY_FIX=$CHATLLM_DESTROY_FIX" --build-arg "ORCH_IMAGE=$IMAGE"
       --build-arg "IMAGE_CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
REVISION=$(git rev-parse HEAD 2>/dev/null || true)
[ -z "$REVISION" ] || BUILD+=(--build-arg "ORCH_REVISION=$REVISION$(git diff --quiet HEAD 2>/dev/null || echo -dirty)")
SOURCE=$(git remote get-url origin 2>/dev/null || true)
[ -z "$SOURCE" ] || BUILD+=(--build-arg "ORCH_SOURCE=$SOURCE")
[ -z "${BUILD_JOBS:-}" ] || BUILD+=(--build-arg "BUILD_JOBS=$BUILD_JOBS")
if [ -n "${CHATLLM_BUNDLE_DIR:-}" ]; then
    [ -z "${CHATLLM_SRC:-}" ] || die "give CHATLLM_SRC or CHATLLM_BUNDLE_DIR, not both"
    BUILD+=(--build-arg CHATLLM_FROM=bundle --build-context "chatllm-bundle=$CHATLLM_BUNDLE_DIR")
elif [ -n "${CHATLLM_SRC:-}" ]; then
    # a clean clone at the commit: the build refuses local changes, and the checkout's own
    # build folder is not sent
    git clone -q --no-checkout "$CHATLLM_SRC" "$WORK/chatllm-src" || die "cannot clone $CHATLLM_SRC"
    git -C "$WORK/chatllm-src" checkout -q "$CHATLLM_COMMIT" || die "$CHATLLM_SRC has no commit $CHATLLM_COMMIT"
    BUILD+=(--build-context "chatllm-src=$WORK/chatllm-src")
fi
if [ -z "${EXTRA_CA:-}" ] && compgen -G '/usr/local/share/ca-certificates/*.crt' > /dev/null; then
    cat /usr/local/share/ca-certificates/*.crt > "$WORK/extra-ca.pem"
    EXTRA_CA=$WORK/extra-ca.pem
fi
[ -z "${EXTRA_CA:-}" ] || BUILD+=(--secret "id=extra_ca,src=$EXTRA_CA")
[ -z "${WHEELS_DIR:-}" ] || BUILD+=(--build-context "wheels=$WHEELS_DIR")

say "building $IMAGE (log: $WORK/build.log)"
timed "image build" "${C[@]}" build "${LIMITS[@]}" "${BUILD[@]}" -f Containerfile -t "$IMAGE" . > "$WORK/build.log" 2>&1 \
    || { tail -n 30 "$WORK/build.log" >&2; die "the image build failed"; }
IMAGE_ID=$("${C[@]}" image inspect --format '{{.Id}}' "$IMAGE")
SIZE=$("${C[@]}" image inspect --format '{{.Size}}' "$IMAGE")

# ---------------------------------------------------------------- run it
mkdir -p "$WORK/models" "$WORK/results" "$WORK/history"
chmod a+rwx "$WORK/models" "$WORK/results" "$WORK/history"  # the image runs as uid 10001
RUN=("${C[@]}" run --rm "${LIMITS[@]}" -e "ORCH_IMAGE_DIGEST=$IMAGE_ID"
     -v "$WORK/models:/models" -v "$WORK/results:/results" -v "$WORK/history:/var/lib/orch")

expect() {  # expect CODE LABEL args...: run orch in the image, its output in the log
    local want=$1 label=$2 rc=0
    shift 2
    say "orch $*"
    timed "$label" "${RUN[@]}" "$IMAGE" "$@" > "$WORK/$label.log" 2>&1 || rc=$?
    [ "$rc" = "$want" ] || { tail -n 30 "$WORK/$label.log" >&2; die "orch $* exited $rc, expected $want"; }
}

expect 0 doctor doctor --engine chatllm
grep -Eq "chatllm.cpp commit +ok +${CHATLLM_COMMIT:0:12}" "$WORK/doctor.log" \
    || die "orch doctor does not report chatllm.cpp commit ${CHATLLM_COMMIT:0:12}"
grep -Eq "chatllm.cpp build +ok +.*Release" "$WORK/doctor.log" || die "orch doctor does not report the build flags"
grep -Eq "container image +ok +$IMAGE" "$WORK/doctor.log" || die "orch doctor does not report the image"

expect 0 selftest selftest

expect 0 make-test-models make-test-models
for m in tiny-asr-a tiny-asr-b tiny-aligner; do
    [ -s "$WORK/models/tiny/$m.bin" ] || die "make-test-models left no models/tiny/$m.bin on the host volume"
done

# Upstream chatllm.cpp aborts in chatllm_destroy (docs/ab.md): recreate-destroy crashes
# there, which is exit 1; with the destroy fix every strategy is ok.
rc=0
timed compare "${RUN[@]}" "$IMAGE" compare --all --engine chatllm --model models/tiny/tiny-asr-a.bin \
    --audio samples/phone-zh.wav --iters "$ITERS" --json /results/compare.json > "$WORK/compare.log" 2>&1 || rc=$?
cat "$WORK/compare.log" >&2
python3 - "$WORK/results" "$rc" "$CHATLLM_DESTROY_FIX" "$CHATLLM_COMMIT" "$IMAGE_ID" <<'EOF' || die "the compare's results are not what they should be"
import json, pathlib, sys

results, rc, fix, commit, image_id = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
run = json.loads((results / "compare.json").read_text())
runs = [p for p in results.glob("*/run.json")]
assert len(runs) == 1, f"expected one run folder on the volume, found {runs}"
assert json.loads(runs[0].read_text())["run_id"] == run["run_id"], "run.json and --json differ"
status = {r["strategy"]: r["status"] for r in run["results"]}
image = run["engine"].get("image") or {}
assert image.get("chatllm_commit", "").startswith(commit), f"engine.image names chatllm.cpp {image.get('chatllm_commit')}"
assert image.get("digest") == image_id, f"engine.image.digest {image.get('digest')} is not the image {image_id}"
assert run["engine"].get("commit") == commit[:12], f"engine.commit {run['engine'].get('commit')}"
bad = {s: v for s, v in status.items() if v != "ok"}
if fix or not bad:
    assert rc == 0 and not bad, f"exit {rc}, not ok: {bad}"
else:
    crashed = next(r for r in run["results"] if r["strategy"] == "recreate-destroy")
    assert rc == 1 and bad == {"recreate-destroy": "crashed"}, f"exit {rc}, not ok: {bad}"
    assert "SIGABRT" in (crashed.get("error") or ""), crashed.get("error")
print(f"container_check: compare exit {rc}; " + ", ".join(f"{s} {v}" for s, v in status.items()), file=sys.stderr)
EOF
[ -s "$WORK/history/history.sqlite3" ] || die "no history database on the host volume"

say "PASS: $IMAGE ($IMAGE_ID), $((SIZE / 1000000)) MB"
for t in "${TIMES[@]}"; do say "  $t"; done
