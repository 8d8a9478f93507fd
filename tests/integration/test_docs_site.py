"""The docs site builds with warnings as errors (`mkdocs build --strict`, as .ci/run does): a
broken link, a missing anchor or a page left out of mkdocs.yml's nav fails it. The README is
not part of the site, so its links into docs/ are checked here against the built pages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


@pytest.mark.slow
def test_the_site_builds_strict_with_every_page(site):
    pages = sorted(p.stem for p in (REPO / "docs").glob("*.md"))
    assert len(pages) >= 20
    for page in pages:
        built = site / "index.html" if page == "index" else site / page / "index.html"
        assert built.is_file(), page


@pytest.mark.slow
def test_the_readme_links_into_the_site_resolve(site):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\((docs/[^)#\s]+)(#[^)\s]+)?\)", readme)
    assert len(links) >= 20, links
    for target, anchor in links:
        path = REPO / target
        assert path.exists(), target
        if anchor and path.suffix == ".md":
            page = site / "index.html" if path.stem == "index" else site / path.stem / "index.html"
            html = page.read_text(encoding="utf-8")
            assert f'id="{anchor[1:]}"' in html, target + anchor


def test_the_development_page_builds_it_as_this_test_does():
    """docs/development.md's command is the build this module runs (and .ci/run's)."""
    page = (REPO / "docs" / "development.md").read_text(encoding="utf-8")
    block = page.split("\n## These docs\n", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    assert block.startswith("python -m mkdocs build --strict -d site")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert (
        'python -m mkdocs build --strict -d "$(mktemp -d)"  # no -q: it hides the warnings --strict fails on'
        in ci.splitlines()
    )


def test_the_readme_is_the_short_one():
    """Issue 33: a README a newcomer reads in five minutes; the manual is the site."""
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) < 250
