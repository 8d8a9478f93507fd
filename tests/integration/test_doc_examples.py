"""Every shell example in the README and docs/ is run by a test (issue 33). Each ```sh block
is preceded by a marker comment saying how (docs/development.md, "These docs"):

- `<!-- example: run -->`: run here, each `orch` line as written, in a scratch folder with a
  scratch history; it must exit 0 (`run exit N`: N, as an A/B whose B regressed exits 3);
- `<!-- example: tested-by tests/PATH.py -->`: a test of its own runs it; the file must exist
  and read the page;
- `<!-- example: not-run REASON -->`: it needs what this machine cannot have (chatllm.cpp, a
  model export, a container runtime, an install); every `orch` line in it is still parsed by
  orch's own command line, so a command or an option that does not exist fails here.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.commands import startup_problems

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- example: (run|tested-by|not-run)(?: (.+?))? -->$")
SEPARATORS = {"&&", "||", ";", "|", "&"}


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # the fence's line, 1-based
    marker: str | None  # run, tested-by, not-run; None: no marker
    detail: str
    body: str

    def __str__(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks() -> list[Block]:
    found = []
    for page in PAGES:
        lines = page.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("```sh"):
                continue
            end = next(k for k in range(i + 1, len(lines)) if lines[k].startswith("```"))
            mark = MARKER.match(lines[i - 1]) if i else None
            kind, detail = (mark.group(1), mark.group(2) or "") if mark else (None, "")
            found.append(Block(page, i + 1, kind, detail, "\n".join(lines[i + 1 : end])))
    return found


BLOCKS = blocks()


def _segments(line: str) -> list[list[str]]:
    """The simple commands of one shell line (split at &&, ||, ;, |), comments dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    out: list[list[str]] = [[]]
    for word in lexer:
        if word in SEPARATORS:
            out.append([])
        else:
            out[-1].append(word)
    return [s for s in out if s]


def orch_commands(body: str, variables: dict[str, str] | None = None) -> list[list[str]]:
    """orch's arguments in each command of a block: `$ ` prompts and output lines skipped,
    continuation lines joined, the block's own variables (`C="..."`) expanded; `orch ...`
    after environment assignments, `/usr/bin/time -v` or inside `podman run ... orch`.
    `variables`: those set by the page's earlier blocks (updated with this block's)."""
    text = re.sub(r"\\\n\s*", " ", body)
    variables = {} if variables is None else variables  # a page's blocks are one shell session
    commands = []
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        for name, value in variables.items():
            line = re.sub(rf"\$\{{?{name}\b\}}?", lambda _m, v=value: v, line)
        for words in _segments(line):
            assignment = re.fullmatch(r"([A-Za-z_]\w*)=(.*)", words[-1]) if len(words) <= 2 else None
            if assignment and words[0] in (words[-1], "export"):
                variables[assignment.group(1)] = assignment.group(2)
                continue
            while words and re.fullmatch(r"[A-Za-z_]\w*=.*", words[0]):
                words = words[1:]
            if words[:2] == ["/usr/bin/time", "-v"]:
                words = words[2:]
            if words and words[0] == "orch":
                commands.append(words[1:])
            elif words[:2] in (["podman", "run"], ["docker", "run"]) and "orch" in words:
                commands.append(words[words.index("orch") + 1 :])
    return commands


def parse(args: list[str]) -> None:
    """Parse `orch ARGS` as orch would, without running it: an unknown command or option, an
    option without its value or a value click cannot read raises (or is returned as noted)."""
    ctx = main.make_context("orch", list(args))
    group: click.Group = main
    rest = _unparsed(ctx)
    while True:
        if not rest:  # `orch history [options]`: a group that runs without a subcommand
            if group is not main and group.invoke_without_command:
                return
            raise click.UsageError(f"{group.name}: a command is missing")
        name, *rest = rest
        command = group.get_command(ctx, name)
        if command is None:
            raise click.UsageError(f"no such command {name!r}")
        ctx = command.make_context(name, rest, parent=ctx)
        noted = startup_problems.take(ctx)
        if noted:
            raise click.UsageError("; ".join(noted))
        if not isinstance(command, click.Group):
            return
        group, rest = command, _unparsed(ctx)


def _unparsed(ctx: click.Context) -> list[str]:
    """A group's words left for its subcommand, the subcommand's name first (click 8.2 keeps
    the name in `_protected_args`; 8.1 in `protected_args`)."""
    name = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
    return [*name, *ctx.args]


def test_every_shell_example_has_a_marker():
    assert len(BLOCKS) >= 40
    assert [str(b) for b in BLOCKS if b.marker is None] == []
    assert [str(b) for b in BLOCKS if b.marker == "not-run" and not b.detail] == []  # a reason each


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker == "tested-by"], ids=str)
def test_a_tested_by_example_names_a_test_that_reads_its_page(block):
    test = REPO / block.detail
    assert test.is_file() and test.parent.parent.name == "tests", block.detail
    assert block.page.name in test.read_text(encoding="utf-8"), (block.detail, block.page.name)


def commands_of(block: Block) -> list[list[str]]:
    """The block's orch commands, with the variables its page's earlier blocks set."""
    variables: dict[str, str] = {}
    for earlier in BLOCKS:
        if earlier.page == block.page and earlier.line < block.line:
            orch_commands(earlier.body, variables)
    return orch_commands(block.body, variables)


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker != "tested-by"], ids=str)
def test_every_orch_line_parses(block):
    commands = commands_of(block)
    if block.marker == "run":
        assert commands, f"{block}: a run example with no orch command"
    for args in commands:
        try:
            parse(args)
        except click.ClickException as exc:
            pytest.fail(f"{block}: orch {shlex.join(args)}: {exc.format_message()}")


def test_the_parser_is_not_fooled():
    """The two checks above could pass by finding nothing: they find these."""
    assert orch_commands('C="--iters 5"\nX=1 orch run $C # note\npodman run --rm -v a:/b orch doctor') == [
        ["run", "--iters", "5"],
        ["doctor"],
    ]
    assert orch_commands("pip install -e . && orch selftest && orch compare --all --iters 20") == [
        ["selftest"],
        ["compare", "--all", "--iters", "20"],
    ]
    for bad in (["run", "--no-such-option"], ["no-such-command"], ["run", "--iters"], ["run", "--iters", "ten"]):
        with pytest.raises(click.ClickException):
            parse(bad)
    parse(["history", "changes", "--since", "30d"])


def expected_exit(block: Block) -> int:
    """`run` exits 0; `run exit N` says the example exits N (an A/B whose B regressed: 3)."""
    code = re.fullmatch(r"exit (\d+)", block.detail)
    assert code or not block.detail, f"{block}: a run marker takes only `exit N`, not {block.detail!r}"
    return int(code.group(1)) if code else 0


RUN = sorted({(shlex.join(a), expected_exit(b)) for b in BLOCKS if b.marker == "run" for a in commands_of(b)})


def test_the_run_examples_are_the_cheap_ones():
    """Each is a calibration-engine command (no --engine) that a scratch folder can run."""
    assert len(RUN) >= 8
    assert [c for c, _ in RUN if "--engine" in c or "--model" in c or "--audio" in c] == []


@pytest.mark.slow
@pytest.mark.parametrize("command,code", RUN, ids=[c for c, _ in RUN])
def test_a_run_example_exits_as_it_says(command, code, isolated):
    """As written, from a scratch folder (the `isolated` fixture: its own history, no
    chatllm.cpp)."""
    result = CliRunner().invoke(main, shlex.split(command), catch_exceptions=False)
    assert result.exit_code == code, result.output
