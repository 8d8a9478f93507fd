"""Which container image orch runs in, if any, so a figure can be traced to the image that
made it. The image's build writes the record (`python -m orchestrator.engines.image_identity`, run by
the Containerfile); `orch doctor` and every result's engine block read it back. Outside an
image there is no record and nothing is added.

The digest of an image is only known once it is built, so the build cannot write it; a
scheduler that pins the image by digest passes the same digest in ORCH_IMAGE_DIGEST.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_PATH = "/etc/orch-image.json"
PATH_VAR = "ORCH_IMAGE_IDENTITY"  # another place for the record (tests, a relocated image)
DIGEST_VAR = "ORCH_IMAGE_DIGEST"
SCHEMA = "orch.image/1"


class ImageIdentityError(Exception):
    """The record is there but cannot be read: said, never guessed around."""


@dataclass(frozen=True)
class ImageIdentity:
    image: str | None  # the name the build was given (ORCH_IMAGE build argument)
    revision: str | None  # orch's commit
    created: str | None
    chatllm_dir: str | None
    chatllm_commit: str | None  # the full commit the build checked out and verified
    chatllm_destroy_fix: bool
    chatllm_cmake_args: str | None
    chatllm_march_native: str | None  # what -march=native meant on the machine that built it
    digest: str | None = None  # ORCH_IMAGE_DIGEST at run time

    def describe(self) -> dict:
        """The engine block's `image` entry: what is known, nothing empty."""
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}

    def summary(self) -> str:
        """One line for `orch doctor`."""
        extra = [("destroy fix" if self.chatllm_destroy_fix else "")]
        extra.append(f"-march=native is {self.chatllm_march_native}" if self.chatllm_march_native else "")
        notes = ", ".join(e for e in extra if e)
        parts = [
            self.image or "unnamed image",
            f"orch {self.revision or 'unknown revision'}",
            f"chatllm.cpp {(self.chatllm_commit or 'unknown')[:12]}" + (f" ({notes})" if notes else ""),
        ]
        if self.created:
            parts.append(f"built {self.created}")
        if self.digest:
            parts.append(self.digest)
        return "; ".join(parts)


def record_path() -> Path:
    return Path(os.environ.get(PATH_VAR) or DEFAULT_PATH)


def current() -> ImageIdentity | None:
    """The record of the image orch runs in; None outside an image (no record)."""
    path = record_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ImageIdentityError(f"cannot read {path}: {exc}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ImageIdentityError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ImageIdentityError(f"{path} is not an orch image record (schema {SCHEMA})")
    chatllm = data.get("chatllm")
    if not isinstance(chatllm, dict):
        chatllm = {}
    return ImageIdentity(
        image=data.get("image") or None,
        revision=data.get("revision") or None,
        created=data.get("created") or None,
        chatllm_dir=chatllm.get("dir") or None,
        chatllm_commit=chatllm.get("commit") or None,
        chatllm_destroy_fix=chatllm.get("destroy_fix") is True,
        chatllm_cmake_args=chatllm.get("cmake_args") or None,
        chatllm_march_native=chatllm.get("march_native") or None,
        digest=os.environ.get(DIGEST_VAR) or None,
    )


def engine_fields() -> dict:
    """What a result's engine block gains: `{"image": {...}}` inside an image, `{}` outside.
    An unreadable record is said there; it never stops a run."""
    try:
        identity = current()
    except ImageIdentityError as exc:
        return {"image": {"error": str(exc)}}
    return {"image": identity.describe()} if identity else {}


def commit_for(root: str) -> str | None:
    """The image's chatllm.cpp commit (12 digits, as `git rev-parse --short=12`) when `root`
    is the checkout the image built: the image keeps no git metadata."""
    try:
        identity = current()
    except ImageIdentityError:
        return None
    if not identity or not identity.chatllm_dir or not identity.chatllm_commit:
        return None
    if os.path.realpath(root) != os.path.realpath(identity.chatllm_dir):
        return None
    return identity.chatllm_commit[:12]


# --------------------------------------------------------------------------- writing (at build)
def read_key_values(path: Path) -> dict[str, str]:
    """`key=value` lines (the chatllm.cpp build stage writes them with printf)."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            out[key.strip()] = value.strip()
    return out


def record(image: str, revision: str, created: str, chatllm_dir: str, chatllm_build: dict[str, str]) -> dict:
    return {
        "schema": SCHEMA,
        "image": image,
        "revision": revision,
        "created": created,
        "chatllm": {
            "dir": chatllm_dir,
            "commit": chatllm_build.get("commit", ""),
            "destroy_fix": chatllm_build.get("destroy_fix") == "1",
            "cmake_args": chatllm_build.get("cmake_args", ""),
            "march_native": chatllm_build.get("march_native", ""),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orchestrator.engines.image_identity",
        description="Write the image's identity record (run by the Containerfile).",
    )
    parser.add_argument("--out", default=DEFAULT_PATH)
    parser.add_argument("--image", default="")
    parser.add_argument("--revision", default="")
    parser.add_argument("--created", default="")
    parser.add_argument("--chatllm-dir", required=True)
    parser.add_argument("--chatllm-build", required=True, help="the build stage's key=value file")
    args = parser.parse_args(argv)
    try:
        build = read_key_values(Path(args.chatllm_build))
    except (OSError, ValueError) as exc:
        print(f"orch: cannot read {args.chatllm_build}: {exc}", file=sys.stderr)
        return 2
    if not build.get("commit"):
        print(f"orch: {args.chatllm_build} names no commit", file=sys.stderr)
        return 2
    data = record(args.image, args.revision, args.created, args.chatllm_dir, build)
    Path(args.out).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
