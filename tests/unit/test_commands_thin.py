"""Commands never call commands: no module under orchestrator/commands imports a command's
module (one that `orch` lists in cli.COMMANDS), at the top or inside a function; what
several commands share lives in modules that are no command's (options, running,
load_options, run_inputs, startup_problems) or below commands/ (studies, run, load)."""

from __future__ import annotations

import ast

from orchestrator import cli

from conftest import REPO


def _imported(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return out


def test_no_command_module_imports_another():
    commands = {target.split(":")[0] for target, _help in cli.COMMANDS.values()}
    found = []
    for path in sorted((REPO / "orchestrator" / "commands").glob("*.py")):
        module = f"orchestrator.commands.{path.stem}"
        for other in sorted(_imported(ast.parse(path.read_text(encoding="utf-8"))) & commands - {module}):
            found.append(f"{module} imports {other}")
    assert not found, found
