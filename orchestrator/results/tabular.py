"""One way to print a table in every format a command offers (`--format`)."""

from __future__ import annotations

import csv
import io
import json

import click
from tabulate import tabulate

FORMATS = ("table", "json", "csv", "md")


def render_table(headers: list[str], rows: list[list], fmt: str = "table") -> str:
    if fmt == "table":
        return tabulate(rows, headers=headers, floatfmt="g", missingval="-")
    if fmt == "md":
        return tabulate(rows, headers=headers, tablefmt="github", floatfmt="g", missingval="-")
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(["" if v is None else v for v in row] for row in rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        return json.dumps([dict(zip(headers, row, strict=False)) for row in rows], ensure_ascii=False, indent=2)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def format_option(default: str = "table", cls: type[click.Option] | None = None):
    """`--format`; `cls`: the option's class (startup_problems.CollectedOption for the
    commands that name every start-up problem at once)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default=default,
        show_default=True,
        help="How to print the table.",
        cls=cls,
    )
