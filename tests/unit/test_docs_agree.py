"""Statements in the README and docs/ that the code can check (issue 18 item 10: the README
called `recreate-destroy` "(chatllm only)" though it runs on the calibration engine, and
docs/history.md named the stored schema `orch.run/1` after it became /2)."""

import re
from pathlib import Path

import pytest
from orchestrator.commands.run import compare
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.calibration.options import CalibrationOptions
from orchestrator.results import model as results
from orchestrator.run import strategies

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def section(page: str, title: str) -> str:
    """The text under `## title` of README.md or a docs page, up to the next `## `."""
    text = (ROOT / page).read_text(encoding="utf-8")
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def table_rows(text: str) -> list[list[str]]:
    """The cells of every markdown table row (header and rule included), `\\|` kept whole."""
    rows = []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip() for c in cells])
    return rows


def test_strategy_table_names_the_registry_and_its_engines():
    rows = [r for r in table_rows(section("docs/strategies.md", "The strategies")) if r[0].startswith("`")]
    assert [r[0].strip("`") for r in rows] == list(strategies.NAMES)
    for name, does, _tells in rows:
        # "(chatllm only)" exactly when the calibration engine's entry does not run it
        assert ("chatllm only" in does) == (not engine_registry.get("calibration").runs(name.strip("`"))), name


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_schema_named_is_one_orch_reads_and_the_written_one_is_current(doc):
    text = doc.read_text(encoding="utf-8")
    for version in re.findall(r"orch\.run/\d+", text):
        assert version in results.READABLE_SCHEMAS, (doc.name, version)
    # "schema `orch.run/N`" and "schema": "orch.run/N" say what orch writes and stores
    for version in re.findall(r'schema[ :"]{1,4}`?"?(orch\.run/\d+)', text):
        assert version == results.SCHEMA, (doc.name, version)


def test_shared_option_defaults_are_the_command_line_ones():
    defaults = {p.opts[0]: p.default for p in compare.params if p.opts}
    documented = {}
    for cells in table_rows(section("docs/run.md", "Options shared by run and compare")):
        if len(cells) != 3 or not cells[1] or cells[0] == "option":
            continue
        names = re.findall(r"`(--[a-z-]+)", cells[0])
        values = [v.strip().strip("`") for v in cells[1].split(",")]
        if cells[0].startswith("calibration:"):
            continue  # checked against the engine's own defaults below
        if len(names) == len(values):
            documented.update(zip(names, values, strict=True))
    checked = {k: v for k, v in documented.items() if k in defaults and defaults[k] is not None
               and not isinstance(defaults[k], bool)}
    assert set(checked) >= {"--iters", "--warmup", "--engine", "--scenario", "--out", "--iter-timeout",
                            "--sample-hz", "--growth-threshold-mb", "--plateau-min-tail", "--idle-s", "--format"}
    for option, value in checked.items():
        default = defaults[option]
        if isinstance(default, (int, float)):
            assert float(value) == float(default), option
        else:
            assert value == str(default), option


def test_calibration_option_defaults_are_the_engines():
    row = next(c for c in table_rows(section("docs/run.md", "Options shared by run and compare")) if c[0].startswith("calibration:"))
    names = re.findall(r"`--([a-z-]+)", row[0])
    values = [v.strip() for v in row[1].split(",")]
    for name, value in zip(names, values, strict=False):  # --crash-at, --hang-at: no default
        engine = CalibrationOptions().to_worker()[name.replace("-", "_")]
        assert (value == "all") if engine is None else float(value) == engine, name


def test_the_development_page_says_what_ci_installs_and_runs():
    """docs/development.md's CI steps name the extras .ci/run installs and its pytest line,
    which prints skip reasons (-rs)."""
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    dev = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    (extras,) = re.findall(r"pip install -q? ?-e '(\.\[[a-z,]+\])'", ci)
    assert f"`pip install -e '{extras}'`" in dev
    (pytest_line,) = [line for line in ci.splitlines() if line.startswith("python -m pytest")]
    assert "-rs" in pytest_line.split() and f"`{pytest_line}`" in dev
    # the README's test command installs those extras and runs the same pytest (CI adds
    # --durations, a report, and the engines' environment)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (line,) = [ln for ln in readme.splitlines() if ln.startswith("pip install -e '.[test")]
    assert line == f"pip install -e '{extras}' && python -m pytest -q -rs"
    assert pytest_line.startswith("python -m pytest -q -rs")


def test_the_readme_output_is_what_compare_prints_today():
    """The README's one real output (`orch compare --all --iters 5` on the calibration engine)
    has today's columns and a row per strategy, in the registry's order: a pasted table that
    went stale (a column added or renamed) fails here, to be run and pasted again."""
    from orchestrator.results.output import HEADERS

    shown = section("README.md", "What it prints").split("\n```\n", 1)[1].split("\n```", 1)[0]
    lines = shown.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == HEADERS
    rows = [line.split()[0] for line in lines[2:] if line.split() and line.split()[0] in strategies.NAMES]
    assert rows == list(strategies.NAMES)
    assert lines[-1].startswith("results: orch-results/")


def test_every_column_of_the_table_is_explained():
    """docs/measurement.md's table of columns names every column the run table has."""
    from orchestrator.results.output import HEADERS

    cells = [r[0] for r in table_rows(section("docs/measurement.md", "The table's columns"))]
    named = {name for cell in cells for name in re.findall(r"`([^`]+)`", cell)}
    assert set(HEADERS) - {"strategy", "status", "iters"} <= named

