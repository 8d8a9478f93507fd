"""docs/architecture.md says what the code enforces: its layer list is pyproject.toml's
import-linter layers contract (the same entries, in the same order), and its table of
engines is the registry's (the same names, in order, each with the strategies it runs and
the worker module its entry names)."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
from orchestrator.engines import registry

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    return DOC.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    (layers,) = [c["layers"] for c in config["tool"]["importlinter"]["contracts"] if c["type"] == "layers"]
    return layers


def doc_layers() -> list[str]:
    return re.findall(r"^\d+\. `([^`]+)`", section("The layers"), flags=re.M)


def doc_engines() -> list[list[str]]:
    rows = []
    for line in section("How an engine is declared").splitlines():
        if line.startswith("| `"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_the_layer_list_is_the_import_linter_contract():
    assert doc_layers() == contract_layers()
    assert len(doc_layers()) >= 5


def test_the_engine_table_is_the_registry():
    rows = doc_engines()
    assert [r[0].strip("`") for r in rows] == list(registry.NAMES)
    for name, package, worker, strategies in rows:
        spec = registry.get(name.strip("`"))
        assert [s.strip() for s in strategies.split(",")] == list(spec.strategies), name
        module = spec.worker.split(":")[0].replace(".", "/") + ".py"
        assert f"`{module}`" in worker, (name, module)
        assert package == f"`orchestrator/engines/{spec.name}/`"
        assert (ROOT / module).is_file() and (ROOT / package.strip("`")).is_dir()


def test_the_layout_names_every_package_and_worker_module():
    """The Layout section was out of date once (it left out load/, three engine packages and
    workers/serve.py): every package of orchestrator/ and every worker module is named."""
    layout = section("Layout")
    for package in sorted(p.name for p in (ROOT / "orchestrator").iterdir() if (p / "__init__.py").is_file()):
        assert f"\n  {package}/" in layout, package
    for name in registry.NAMES:
        assert f"{name}/" in layout, name
    for module in sorted((ROOT / "workers").rglob("*.py")):
        if module.name != "__init__.py":
            assert module.name in layout, module
