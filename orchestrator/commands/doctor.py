"""`orch doctor`: what orch found and what is missing, one line per piece with the fix;
exit 1 when the requested run cannot start. Its engine defaults to run's and compare's
(calibration), so a fresh machine passes; `--engine chatllm` checks chatllm.cpp,
`--engine transformers` torch and transformers."""

from __future__ import annotations

import os

import click
import psutil

from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.chatllm.options import chatllm_dir_option
from orchestrator.errors import ExitCode
from orchestrator.results.tabular import format_option, render_table
from orchestrator.run import strategies as registry

READY, NOT_READY, NOT_CHECKED = "ready", "not ready", "not checked"


def checks(engine: str, strategies: list[str], models: list[str], chatllm_dir, main, lib):
    """(item, state, detail, blocking) rows; state is ok / missing / info."""
    rows: list[tuple] = []

    def add(item, ok, detail, fix="", blocking=True):
        state = "ok" if ok else ("missing" if blocking else "info")
        rows.append((item, state, detail if ok or not fix else f"{detail}: {fix}", blocking and not ok))

    _system_checks(add)
    _tool_checks(add)
    for spec in engine_registry.REGISTRY.values():  # every engine: what it needs, found or how to get it
        _engine_rows(
            add, spec, spec.name == engine, strategies, models, {"chatllm_dir": chatllm_dir, "main": main, "lib": lib}
        )
    return rows


def _engine_rows(add, spec, chosen: bool, strategies: list[str], models: list[str], options: dict) -> None:
    """One engine's rows: a first row saying whether it is ready (and how to install what it
    lacks), then its own checks — blocking only for the engine the run would use, information
    for the others. Ready: every piece its checks need for the strategies is there."""
    found: list[tuple] = []  # its rows as its checks give them, each as if the run used it

    def collect(item, ok, detail, fix="", blocking=True):
        found.append((item, ok, detail, fix, blocking))

    check = spec.doctor_checks()
    if check is not None:
        mine = {k: v for k, v in options.items() if k in fields.known_keys(spec.options)}
        runs = [s for s in strategies if spec.runs(s)]
        check(collect, mine, runs, models if chosen else [], blocking=True)
    elif spec.find_model is not None:  # an engine without rows of its own: its test model at least
        model = spec.test_model("tiny-asr-a", "tiny")
        collect(
            "tiny-asr-a (test model)",
            model is not None,
            str(model) if model else "not made",
            f"orch make-test-models --runtime {spec.name}",
            blocking=False,
        )
    missing = [item for item, ok, _, _, blocking in found if blocking and not ok]
    install = f"; to install: {spec.install}" if spec.install else ""
    if missing:
        detail = f"{NOT_READY} ({', '.join(missing)} missing): {spec.does}{install}"
    elif check is not None or not spec.install:
        detail = f"{READY}: {spec.does}"
    else:  # nothing checks what it needs: say so rather than call it ready
        detail = f"{NOT_CHECKED} (it has no doctor checks): {spec.does}{install}"
    add(f"engine {spec.name}", detail.startswith(READY), detail, blocking=False)
    for item, ok, detail, fix, blocking in found:
        add(item, ok, detail, fix, blocking=blocking and chosen)


TABLE_WIDTH = 100  # the terminal table fits this many columns (json, csv and md keep every row whole)
ITEM_WIDTH = 34


def fitted(rows: list[list], width: int = TABLE_WIDTH) -> list[list]:
    """The rows with `item` and `detail` wrapped so the table fits `width` columns (tabulate
    prints a cell's lines one under the other)."""
    state_w = max([len("state")] + [len(str(r[1])) for r in rows])
    item_w = min(ITEM_WIDTH, max([len("item")] + [len(str(r[0])) for r in rows]))
    detail_w = max(20, width - item_w - state_w - 8)  # two spaces between columns, tabulate pads headers by 2

    return [[wrap_item(str(r[0]), item_w), r[1], wrap_item(str(r[2]), detail_w)] for r in rows]


def wrap_item(text: str, width: int) -> str:
    """A cell in lines of at most `width`, broken after a space or a `/` (a long path is cut
    between its folders, never inside a name)."""
    import re

    lines, line = [], ""
    for part in re.split(r"(?<=[/ ])", text):
        if line and len(line) + len(part) > width:
            lines.append(line.rstrip())
            line = ""
        line += part
    return "\n".join(lines + [line.rstrip()])


def engine_summary(rows: list[tuple]) -> str:
    """One line: each engine ready or not (stderr, after the table)."""
    states = [
        f"{item.removeprefix('engine ')} {next(w for w in (READY, NOT_READY, NOT_CHECKED) if detail.startswith(w))}"
        for item, _, detail, _ in rows
        if item.startswith("engine ")
    ]
    return "engines: " + ", ".join(states)


def _system_checks(add) -> None:
    """The host: CPUs and memory, opencc for zh-TW scoring, whether USS/PSS are readable."""
    cpus = os.cpu_count()
    add("CPUs", True, f"{cpus} logical, {psutil.virtual_memory().total / 2**30:.1f} GiB memory")
    try:
        import opencc

        opencc.OpenCC("s2twp").convert("软件")
        add("opencc (zh-TW)", True, "s2twp works")
    except Exception as exc:  # any failure means scoring cannot convert
        add("opencc (zh-TW)", False, f"not usable ({exc})", "pip install opencc", blocking=False)
    try:
        psutil.Process().memory_full_info()
        add("USS/PSS", True, "readable (smaps)")
    except (psutil.AccessDenied, AttributeError):
        add("USS/PSS", False, "not readable on this OS: RSS only", blocking=False)


def _tool_checks(add) -> None:
    """External tools every engine may use: memray for `orch attribute`."""
    from orchestrator.studies.attribution import tracer_missing

    why = tracer_missing()
    add("memray (orch attribute)", why is None, "installed" if why is None else why, blocking=False)


@click.command()
@click.option(
    "--engine",
    type=click.Choice(engine_registry.NAMES),
    metavar="NAME",
    default="calibration",
    show_default=True,
    help="The engine the run you plan would use (`orch engines` lists them, and what each needs): its rows "
    "say whether that run can start.",
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    type=click.Choice(registry.NAMES),
    help="Strategies the run would use (default: all the engine can run).",
)
@click.option("--model", "models", multiple=True, help="Model files (transformers: folders) the run would load.")
@chatllm_dir_option("")
@click.option("--chatllm-main", default=None)
@click.option("--chatllm-lib", default=None)
@format_option()
def doctor(engine, strategies, models, chatllm_dir, chatllm_main, chatllm_lib, fmt):
    """Check what a run needs; say how to fix what is missing; exit 1 if it cannot start."""
    strategies = list(strategies) or registry.for_engine(engine)
    rows = checks(engine, strategies, list(models), chatllm_dir, chatllm_main, chatllm_lib)
    table = [list(r[:3]) for r in rows]
    click.echo(render_table(["item", "state", "detail"], fitted(table) if fmt == "table" else table, fmt))
    click.echo("\n" + engine_summary(rows), err=True)
    blocking = [r for r in rows if r[3]]
    if blocking:
        click.echo(f"A {engine} run cannot start: {len(blocking)} missing piece(s) above.", err=True)
        click.get_current_context().exit(ExitCode.FAILED)
    click.echo(f"A {engine} run can start.", err=True)
    note = engine_registry.get(engine).doctor_note
    if note:
        click.echo(note, err=True)
