"""Engine options live on `orch engines` (grouped under their engine), not on each command's
--help: every registered engine has its section there with each of its flags, the commands
that take engine options list none of them (they say where they are), so an engine added
changes no command's help; the flags still work on those commands."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry

TAKE_ENGINE_OPTIONS = ("run", "compare", "ab", "attribute", "retention", "transcribe", "load")


def _flags(spec) -> list[str]:
    return [meta.flag for _name, meta in fields.metas(spec.options) if meta.flag]


def _help(*argv: str) -> str:
    result = CliRunner().invoke(main, [*argv], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def test_every_engine_has_its_section_with_its_flags():
    page = _help("engines")
    sections = re.split(r"^(?=\S.*:$)", page, flags=re.M)
    by_name = {s.split(":", 1)[0]: s for s in sections if s.strip()}
    assert list(by_name) == list(engine_registry.NAMES)
    for spec in engine_registry.REGISTRY.values():
        for flag in _flags(spec):
            assert re.search(rf"^\s+{re.escape(flag)}\b", by_name[spec.name], re.M), (spec.name, flag)
        assert spec.does.split()[0] in by_name[spec.name]


def test_one_engine_and_an_unknown_one():
    only = _help("engines", "transformers")
    assert only.startswith("transformers:") and "\nchatllm:" not in only
    bad = CliRunner().invoke(main, ["engines", "nope"])
    assert bad.exit_code == 2 and "unknown engine 'nope'" in bad.output and "Traceback" not in bad.output


@pytest.mark.parametrize("command", TAKE_ENGINE_OPTIONS)
def test_a_command_help_lists_no_engine_flag_and_says_where_they_are(command):
    text = _help(command, "--help")
    assert "`orch engines`" in text
    own = {"--model", "--language"}  # the commands' own options, whatever engine runs
    for spec in engine_registry.REGISTRY.values():
        for flag in set(_flags(spec)) - own:
            assert not re.search(rf"^\s+{re.escape(flag)}\b", text, re.M), (command, flag)
