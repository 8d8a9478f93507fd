"""Which crispasr wheel the workers will import: the parent's own Python's (workers run with
it), read from the installed packages' metadata, so nothing is imported here (importing the
package is cheap, but opening its library is not the parent's business)."""

from __future__ import annotations

import importlib.metadata
import importlib.util

from orchestrator.engines.crispasr.options import INSTALL

RUNTIME = "crispasr"
# the wheel this engine was written and measured against (setup.cfg's `crispasr` extra)
TARGET = "0.8.45"


def version(name: str = RUNTIME) -> str | None:
    """The installed version of `name`, None when it cannot be imported."""
    if importlib.util.find_spec(name) is None:
        return None
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def problems() -> list[str]:
    if version() is None:
        return [f"crispasr is not installed in this Python: {INSTALL}"]
    return []


def describe() -> str:
    """ "crispasr 0.8.45" (what the run's record keeps)."""
    return f"crispasr {version() or 'missing'}"
