"""The transformers engine's rows in `orch doctor`: torch and transformers in the Python the
workers run with (versions from metadata, nothing imported), orch's test model folders, and
the model folders given. `blocking`: the run being checked uses this engine."""

from __future__ import annotations

import os

from orchestrator.engines.transformers import runtime
from orchestrator.engines.transformers.convert import TARGET_TRANSFORMERS
from orchestrator.engines.transformers.model_folder import ModelFolderError, random_model_kind, read_config
from orchestrator.engines.transformers.options import INSTALL
from orchestrator.engines.transformers.testmodels import DEFAULT_OUT as TINY_DIR
from orchestrator.engines.transformers.testmodels import SPECS


def checks(add, options: dict, strategies: list[str], models: list[str], blocking: bool) -> None:
    for pkg in runtime.packages():
        problem = pkg.problem()
        detail = pkg.version or "not installed"
        if pkg.name == "transformers" and pkg.version:
            detail += f" (orch's model folders are for {TARGET_TRANSFORMERS})"
        add(pkg.name, problem is None, detail, INSTALL if problem else "", blocking=blocking)
    tiny = list(SPECS)
    have = [n for n in tiny if os.path.isfile(os.path.join(TINY_DIR, n, "config.json"))]
    add(
        f"{TINY_DIR}/ (test models)",
        len(have) == len(tiny),
        f"{len(have)} of {len(tiny)} present" if have else "not present",
        "orch make-test-models --runtime transformers (tiny random-weight folders)",
        blocking=False,
    )
    for m in models:
        try:
            config = read_config(m)
        except ModelFolderError as exc:
            add(f"model {m}", False, str(exc) if os.path.exists(m) else "folder not found", blocking=blocking)
            continue
        kind = random_model_kind(config) or "transformers model folder"
        add(f"model {m}", True, f"{', '.join(config.get('architectures') or [])} ({kind})")
