"""click's own checks of an option's value (`--iters ten`, `--format xml`) as start-up
problems: noted instead of ending the command at the first one, so the command names them
with every other problem in one `orch: cannot start:` message (docs/run.md, "Exit codes and start-up checks").

Ranges are not click's to check here: the plan's checks (RunPlan.validate, preflight) own
them, with the reason for each limit."""

from __future__ import annotations

import click

_KEY = "orch.startup_problems"


class CollectedOption(click.Option):
    """An option whose bad value is noted for the command (take()) and becomes None, so the
    plan falls back to its default and the other checks still run."""

    def process_value(self, ctx: click.Context, value):
        try:
            return super().process_value(ctx, value)
        except click.BadParameter as exc:  # a missing required option too (MissingParameter)
            why = (exc.message or exc.format_message()).rstrip(".")
            ctx.meta.setdefault(_KEY, []).append(f"{self.opts[-1]}: {why}")
            return None


def option(*names, **attrs):
    """click.option whose value problems are collected (CollectedOption)."""
    return click.option(*names, cls=CollectedOption, **attrs)


def take(ctx: click.Context | None = None) -> list[str]:
    """The problems noted while the command's options were read (each once)."""
    ctx = ctx or click.get_current_context()
    return list(ctx.meta.pop(_KEY, []))
