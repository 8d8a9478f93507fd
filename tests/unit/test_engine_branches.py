"""Engines plug in (docs/engines.md): no code outside an engine's own package
(orchestrator/engines/<name>/), its worker module (workers/engines/<name>.py) and the registry
branches on an engine's name — what differs per engine is a field or hook of its registry
entry. The scan: every comparison (==, !=, in, not in) and `match` case with an engine's name
as a string literal, the names taken from the registry."""

from __future__ import annotations

import ast
from pathlib import Path

from orchestrator.engines import registry as engine_registry

from conftest import REPO


def _allowed(rel: Path, names: tuple[str, ...]) -> bool:
    """An engine's own package, its worker module (and a worker-side helper program named
    after it, `calibration_cli.py`), or the registry."""
    parts = rel.parts
    if rel == Path("orchestrator/engines/registry.py"):
        return True
    if parts[:2] == ("orchestrator", "engines") and len(parts) > 3 and parts[2] in names:
        return True
    return parts[:2] == ("workers", "engines") and rel.stem in {*names, *(f"{n}_cli" for n in names)}


def _names_in(node: ast.AST, names: tuple[str, ...]) -> set[str]:
    found = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and sub.value in names:
            found.add(sub.value)
    return found


def branches(root: Path, names: tuple[str, ...]) -> list[str]:
    """`path:line: name` of every comparison or match case on an engine name outside its own files."""
    out = []
    for package in ("orchestrator", "workers"):
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root)
            if _allowed(rel, names):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Compare):
                    sides = [node.left, *node.comparators]
                    hits = set().union(*(_names_in(s, names) for s in sides))
                elif isinstance(node, ast.match_case):
                    hits = _names_in(node.pattern, names)
                else:
                    continue
                line = node.pattern.lineno if isinstance(node, ast.match_case) else node.lineno
                out += [f"{rel}:{line}: {name}" for name in sorted(hits)]
    return out


def test_no_engine_name_is_branched_on_outside_its_own_files():
    found = branches(REPO, engine_registry.NAMES)
    assert not found, "branch on an engine's name (make it a registry field or hook):\n" + "\n".join(found)


def test_the_scan_finds_a_branch(tmp_path):
    (tmp_path / "orchestrator" / "engines" / "echo").mkdir(parents=True)
    (tmp_path / "workers" / "engines").mkdir(parents=True)
    (tmp_path / "orchestrator" / "run.py").write_text('if engine == "echo":\n    pass\nx = "echo"\n')
    (tmp_path / "orchestrator" / "engines" / "echo" / "plan.py").write_text('if engine == "echo":\n    pass\n')
    (tmp_path / "workers" / "engines" / "echo.py").write_text('if engine in ("echo", "x"):\n    pass\n')
    (tmp_path / "workers" / "main.py").write_text('match engine:\n    case "echo":\n        pass\n')
    assert branches(tmp_path, ("echo",)) == ["orchestrator/run.py:1: echo", "workers/main.py:2: echo"]
