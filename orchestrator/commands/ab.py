"""`orch ab --a "OPTIONS" --b "OPTIONS"` (orchestrator.studies.ab): each side's OPTIONS split
like a shell (shlex) and parsed by `orch compare`'s own option parser (click) — what a side
gives overrides the options given to `orch ab` itself; each side a full plan made by
`RunPlan.build`, checked before any worker starts; then the rounds, the A/B table
(results.ab_table) and the exit code (errors.ExitCode: 0 no regression, 3 regressed, 2 could
not start, 130 Ctrl-C (143 SIGTERM, 129 SIGHUP: the same)). With `--load`, each side is a load run instead (studies.load_ab): a
load result file, or `orch load`'s options, run once each (A, then B)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import click
from click.core import ParameterSource

from orchestrator.commands import startup_problems
from orchestrator.commands.options import common_options, compare_parser
from orchestrator.commands.run_inputs import (
    inputs_from_cli,
    option_flag,
    output_problems,
    refuse_unusable_history,
    run_progress,
)
from orchestrator.errors import CannotStart, ExitCode, OrchError
from orchestrator.run import strategies as registry
from orchestrator.run.plan import RunPlan
from orchestrator.run.preflight import preflight

if TYPE_CHECKING:
    from orchestrator.studies.ab import Side

# options of `orch compare` that describe the run as a whole, never one side of it
RUN_LEVEL = {
    "all_": "--all",
    "strategies": "--strategies",
    "out": "--out",
    "json_path": "--json",
    "db": "--db",
    "no_history": "--no-history",
    "fmt": "--format",
    "srt_path": "--srt",
}
# compare --engines' own options: each side of an A/B run is one engine
ENGINES_ONLY = {
    "engines": "--engines",
    "model_name": "--model-name",
    "shape": "--shape",
    "limits": "--limits/--no-limits",
}


def side_options(text: str, label: str) -> dict:
    """What one side's OPTIONS say, parsed by `orch compare`'s parser: only the options the
    text gives (not their defaults). CannotStart for what cannot be parsed, or an option
    that belongs to the run as a whole."""
    flag = f"--{label.lower()}"
    try:
        args = shlex.split(text)
    except ValueError as exc:
        raise CannotStart(f"{flag} {text!r}: {exc}") from None
    compare = compare_parser()
    try:
        ctx = compare.make_context(f"orch ab {flag}", args, resilient_parsing=False)
    except click.exceptions.Exit:
        raise CannotStart(f"{flag}: give options, not --help (orch compare --help lists them)") from None
    except click.ClickException as exc:
        raise CannotStart(f"{flag} {text!r}: {exc.format_message()}") from None
    unreadable = startup_problems.take(ctx)  # values compare's options could not read
    if unreadable:
        raise CannotStart([f"{flag} {text!r}: {p}" for p in unreadable])
    given = {
        p.name: ctx.params[p.name]
        for p in compare.params
        if p.name and ctx.get_parameter_source(p.name) is ParameterSource.COMMANDLINE
    }
    engines_only = [ENGINES_ONLY[k] for k in given if k in ENGINES_ONLY]
    if engines_only:
        raise CannotStart(
            f"{flag}: {', '.join(engines_only)} belong to `orch compare --engines`; a side is one engine "
            '(--a "--engine chatllm --model X" --b "--engine transformers --model Y")'
        )
    run_level = [RUN_LEVEL[k] for k in given if k in RUN_LEVEL]
    if run_level:
        raise CannotStart(
            f"{flag}: {', '.join(run_level)} belong to the whole A/B run: give them to orch ab itself, not to one side"
        )
    return given


def side_lines(sides: list[Side]) -> list[str]:
    """Each side's engine and model, when the sides differ in either (an A/B across engines)."""
    described = [(s.plan.engine, s.plan.model_label()) for s in sides]
    if described[0] == described[1]:
        return []
    return [
        f"{s.label}: engine {engine}, model {model or '-'}" for s, (engine, model) in zip(sides, described, strict=True)
    ]


def left_out(kws: dict[str, dict], chosen: list[str]) -> str | None:
    """--all across two engines: the strategies only one side's engine runs (left out), or None."""
    per_side = {label: registry.for_engine(kw["engine"]) for label, kw in kws.items()}
    only = [f"{s} ({kws[label]['engine']} only)" for label in per_side for s in per_side[label] if s not in chosen]
    return f"--all: left out what only one side's engine runs: {', '.join(only)}" if only else None


def build_sides(a_text: str, b_text: str, all_: bool, strategies: str | None, kw: dict) -> tuple[list[Side], list[str]]:
    """Both sides' plans, every problem of either named at once (CannotStart)."""
    from orchestrator.studies.ab import Side  # lazy: the study imports numpy and scipy; --help must not

    unreadable = startup_problems.take()  # ab's own options click could not read
    if unreadable:
        raise CannotStart(unreadable)
    if all_ == (strategies is not None):
        raise click.UsageError("give either --all or --strategies a,b")
    if kw.get("srt_path"):
        raise CannotStart("--srt is not offered by orch ab (align runs compare, not write subtitles)")
    given = {"A": side_options(a_text, "A"), "B": side_options(b_text, "B")}
    kws = {label: {**kw, **g} for label, g in given.items()}
    if all_:  # every strategy both sides' engines run, in the registry's order
        b_names = set(registry.for_engine(kws["B"]["engine"]))
        chosen = [s for s in registry.for_engine(kws["A"]["engine"]) if s in b_names]
    else:
        chosen = [s.strip() for s in (strategies or "").split(",") if s.strip()]
    sides, problems = [], {}
    missing = left_out(kws, chosen) if all_ else None
    for label, text in (("A", a_text), ("B", b_text)):
        try:
            plan, notes = RunPlan.build(inputs_from_cli(list(chosen), kws[label]))
            if missing and label == "A":  # said once, with the first side's notes
                notes = [missing, *notes]
        except CannotStart as exc:  # an engine option out of range: say which side
            raise CannotStart([f"{label}: {p}" for p in exc.problems]) from None
        problems[label] = plan.validate(label=option_flag) + preflight(plan, label=option_flag)
        sides.append(Side(label, text, kws[label], plan, notes))
    shared = [p for p in problems["A"] if p in problems["B"]]
    found = shared + [f"{label}: {p}" for label in "AB" for p in problems[label] if p not in shared]
    found = list(dict.fromkeys(found + output_problems(sides[0].plan, kw)))
    if found:
        raise CannotStart(found)
    refuse_unusable_history(kw)
    return sides, chosen


@click.command()
@click.option(
    "--a",
    "a_options",
    required=True,
    metavar="OPTIONS",
    help='Side A: options of `orch compare`, quoted as one argument, e.g. "--leak-mb 0" '
    'or "--chatllm-dir ../upstream". They override the options given to orch ab. '
    "With --load: a load result file, or options of `orch load`.",
)
@click.option("--b", "b_options", required=True, metavar="OPTIONS", help="Side B, as --a.")
@click.option(
    "--load",
    "load_sides",
    is_flag=True,
    help="Compare two load runs (docs/ab.md): per level p99 latency and goodput, and the max sustainable rate.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Times to run A then B for every strategy; more rounds separate a difference from drift between runs.",
)
@click.option(
    "--speed-pct",
    type=click.FloatRange(0),
    default=5.0,
    show_default=True,
    help="TTFT or tokens/s worse (better) by more than this %, with a CI excluding 0, "
    "is a regression (an improvement).",
)
@click.option("--all", "all_", is_flag=True, help="Every strategy both sides' engines run.")
@click.option("--strategies", help="Comma-separated strategies.")
@common_options
def ab(a_options, b_options, load_sides, rounds, speed_pct, all_, strategies, **kw):
    """A/B: the same plan on two sides (--a, --b), alternating strategy by strategy, --rounds
    times; B − A per figure with a 95% CI and a verdict (fixed, still grows, regressed,
    improved, no difference). Exit 0 no regression, 3 regressed, 2 could not start."""
    if load_sides:
        _load_ab(a_options, b_options, speed_pct, kw)
        return
    # lazy: the study and the history import numpy, scipy and SQLAlchemy; --help must not
    from orchestrator.history.save import store_history, where_stored
    from orchestrator.results.ab_table import ab_table
    from orchestrator.studies import ab as study

    sides, chosen = build_sides(a_options, b_options, all_, strategies, kw)
    for side in sides:
        for note in side.notes:
            click.echo(f"note: {side.label}: {note}", err=True)
    if study.same_plan(sides):
        click.echo("note: the two sides are the same plan (an A/A run: every difference is noise)", err=True)
    done = study.run_ab(
        sides,
        chosen,
        rounds,
        speed_pct,
        Path(kw["out"]),
        Path(kw["json_path"]) if kw["json_path"] else None,
        echo=lambda text: click.echo(text, err=True),
        progress=run_progress,
    )
    result = done.result
    if done.interrupted:
        click.echo(f"interrupted: what was measured is written below and in {done.run_dir / 'run.json'}", err=True)
    if kw["fmt"] == "table":
        for line in side_lines(sides):
            click.echo(line)
    click.echo(ab_table(result, kw["fmt"]))
    if kw["fmt"] == "table":
        for entry in result.results:
            if entry.ab is not None:
                for reason in entry.ab.reasons:
                    click.echo(f"{entry.strategy}: {entry.ab.verdict}: {reason}")
        click.echo(f"results: {done.run_dir}  (run.json; <side>-r<round>/<strategy>/ for each run)")
    stored = not kw["no_history"] and store_history(result, kw["db"])
    if done.write_failed:  # a full disk: the table and the history row, then one line
        raise OrchError(f"{done.write_failed.message}; {where_stored(stored, result.run_id)}", ExitCode.FAILED)
    click.get_current_context().exit(study.exit_code(result, done.interrupted))


# what `orch ab --load` takes besides --a/--b; the rest of ab's options are compare's
LOAD_AB_OPTIONS = {"a_options", "b_options", "load_sides", "speed_pct", "out", "json_path", "db", "no_history", "fmt"}
# options of `orch load` that belong to the A/B run, not to a side
LOAD_RUN_LEVEL = ("--out", "--json", "--db", "--no-history")


def _load_ab(a_text: str, b_text: str, speed_pct: float, kw: dict) -> None:
    """`orch ab --load`: each side a load result file or `orch load` options (every side's
    options parsed before either runs), run A then B, compared (studies.load_ab)."""
    import json

    from orchestrator.commands.load_options import parser
    from orchestrator.results.tabular import render_table
    from orchestrator.run.plan import new_run_id
    from orchestrator.studies import load_ab

    ctx = click.get_current_context()
    foreign = [
        f"--{name.replace('_', '-').rstrip('-')}"
        for name in ctx.params
        if name not in LOAD_AB_OPTIONS and ctx.get_parameter_source(name) is ParameterSource.COMMANDLINE
    ]
    problems = startup_problems.take()
    if foreign:
        problems.append(
            f"--load compares two load runs: {', '.join(foreign)} belong to compare's A/B "
            "(give orch load's options inside --a and --b)"
        )
    load_parser = parser()
    sides = [_load_side("A", a_text, load_parser, problems), _load_side("B", b_text, load_parser, problems)]
    if not kw["no_history"]:
        from orchestrator.history.store import db_problem  # lazy: SQLAlchemy

        why = db_problem(kw["db"], write=True)
        if why:
            problems.append(f"{why}; or pass --no-history")
    if problems:
        raise CannotStart(problems)
    refuse_unusable_history(kw)
    run_dir = Path(kw["out"]) / f"ab-load-{new_run_id()}"
    runs = []
    for label, side in zip("AB", sides, strict=True):
        if isinstance(side, tuple):
            runs.append(side)
            continue
        path = run_dir / f"{label.lower()}.json"
        args = side + ["--out", str(run_dir), "--json", str(path)]
        args += ["--no-history"] if kw["no_history"] else (["--db", kw["db"]] if kw["db"] else [])
        click.echo(f"ab --load: side {label}: orch load {' '.join(args)}", err=True)
        _run_load_side(label, load_parser, args)  # a request that failed: still compared
        runs.append(_read_load_file(label, path))
    (a_run, a_path), (b_run, b_path) = runs
    result = load_ab.compare(a_run, b_run, a_text, b_text, speed_pct, a_path, b_path)
    click.echo(render_table(load_ab.AB_LOAD_HEADERS, load_ab.table_rows(result), kw["fmt"]))
    for line in load_ab.summary_lines(result):
        click.echo(line, err=kw["fmt"] != "table")
    if kw["json_path"]:
        from orchestrator.results.atomic import write_text_atomic

        write_text_atomic(Path(kw["json_path"]), json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    ctx.exit(load_ab.exit_code(result))


def _run_load_side(label: str, load_parser: click.Command, args: list[str]) -> None:
    """One side's load run, as `orch load` runs it (studies.load: planned by LoadPlan.build,
    kept and stored), its table printed; a side that cannot start names its label."""
    from orchestrator.commands.load_options import plan_from, table
    from orchestrator.load.pool import StartFailed
    from orchestrator.studies import load as load_study

    ctx = load_parser.make_context(f"orch ab --{label.lower()}", list(args), resilient_parsing=False)
    kw = ctx.params
    given = {n for n in kw if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE}
    flags = {p.name: p.opts[0] for p in load_parser.params if p.name}
    try:
        plan, notes = plan_from(kw, given, flags, startup_problems.take(ctx))
    except CannotStart as exc:
        raise CannotStart([f"{label}: {p}" for p in exc.problems]) from None
    for note in notes:
        click.echo(f"note: {note}")
    click.echo(f"orch load: requests in {plan.run_dir}")
    copy_to = Path(kw["json_path"]) if kw["json_path"] else None
    try:
        result, _kept = load_study.run(plan, copy_to, kw["db"], not kw["no_history"])
    except StartFailed as exc:
        raise OrchError(f"cannot start: {exc}") from None
    except load_study.LoadInterrupted:
        raise KeyboardInterrupt from None
    click.echo(table(result))
    if result.error:
        click.echo(f"orch: {result.error}", err=True)


def _load_side(label: str, text: str, load_parser, problems: list[str]):
    """A side: (LoadRun, its file) for a file; else its `orch load` arguments, parsed now
    (so a side's typo is named before either side runs)."""
    flag = f"--{label.lower()}"
    if Path(text).is_file():
        try:
            return _read_load_file(label, Path(text))
        except CannotStart as exc:
            problems += exc.problems
            return None
    try:
        args = shlex.split(text)
    except ValueError as exc:
        problems.append(f"{flag} {text!r}: {exc}")
        return None
    if not args or not args[0].startswith("-"):
        problems.append(f"{flag} {text!r}: no such load result file, and not options of orch load")
        return None
    given = [a.split("=", 1)[0] for a in args if a.startswith("--")]
    run_level = [o for o in LOAD_RUN_LEVEL if o in given]
    if run_level:
        problems.append(f"{flag}: {', '.join(run_level)} belong to the whole A/B run: give them to orch ab itself")
        return None
    try:
        ctx = load_parser.make_context(f"orch ab {flag}", list(args), resilient_parsing=False)
    except click.exceptions.Exit:
        problems.append(f"{flag}: give options, not --help (orch load --help lists them)")
        return None
    except click.ClickException as exc:
        problems.append(f"{flag} {text!r}: {exc.format_message()}")
        return None
    problems += [f"{flag} {text!r}: {p}" for p in startup_problems.take(ctx)]
    return args


def _read_load_file(label: str, path: Path):
    import json

    from orchestrator.errors import read_text_file
    from orchestrator.results.load_run import LoadRun, is_load_document
    from orchestrator.results.model import ResultError

    flag = f"--{label.lower()}"
    try:
        data = json.loads(read_text_file(str(path), "load result file"))
    except ValueError as exc:
        raise CannotStart(f"{flag} {path}: not JSON: {exc}") from None
    if not is_load_document(data):
        raise CannotStart(
            f"{flag} {path}: not a load result (orch load --json); a run's result is compared without --load"
        )
    try:
        return LoadRun.from_json(data), path
    except ResultError as exc:
        raise CannotStart(f"{flag} {path}: {exc}") from None
