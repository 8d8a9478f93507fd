"""`orch engines [NAME]`: every engine orch runs (its registry entry), grouped under its name:
what it is, the strategies it runs, what to install, and its options — the flags that run,
compare, ab, attribute, retention, transcribe and load take for it, which their own --help
leaves here, so an engine added changes no command's help."""

from __future__ import annotations

import click

from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart


@click.command("engines")
@click.argument("name", required=False, metavar="[NAME]")
def engines(name):
    """Every engine: what it is, the strategies it runs, what it needs, and its options (the
    flags of run, compare, ab, load and transcribe), grouped under its name."""
    if name is not None and name not in engine_registry.REGISTRY:
        raise CannotStart(f"unknown engine {name!r}: choose from {', '.join(engine_registry.REGISTRY)}")
    specs = [engine_registry.get(name)] if name else list(engine_registry.REGISTRY.values())
    ctx = click.get_current_context()
    formatter = ctx.make_formatter()
    for spec in specs:
        _write(spec, ctx, formatter)
    click.echo(formatter.getvalue(), nl=False)


def _write(spec, ctx: click.Context, formatter: click.HelpFormatter) -> None:
    """One engine's section: its line, strategies, what to install, its options."""
    with formatter.section(spec.name):
        formatter.write_text(spec.does)
        facts = [("strategies", ", ".join(spec.strategies)), ("install", spec.install or "nothing")]
        formatter.write_dl(facts)
        rows = [_row(option, spec.name, ctx) for option in _options(spec)]
        if rows:
            with formatter.section("options"):
                formatter.write_dl([row for row in rows if row is not None])
    formatter.write_paragraph()


def _options(spec) -> list[click.Option]:
    """The engine's flags as click makes them for the commands (fields.click_options)."""

    def command(**_kw):
        pass

    for deco in reversed(fields.click_options([spec.options])):
        command = deco(command)
    return list(reversed(getattr(command, "__click_params__", [])))


def _row(option: click.Option, engine: str, ctx: click.Context) -> tuple[str, str] | None:
    record = option.get_help_record(ctx)
    if record is None:
        return None
    flag, text = record
    return flag, text.removeprefix(f"{engine}: ")
