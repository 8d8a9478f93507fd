"""`orch reproduce exp1|exp2|exp3|exp4` (orchestrator.studies.reproduce): the experiment's
plan, checked as `orch compare` checks one, what it will run and how long, then the run
through `run_and_report` (the same table, run JSON, history and exit codes)."""

from __future__ import annotations

import sys

import click

from orchestrator.commands.run_inputs import option_flag, output_problems
from orchestrator.commands.running import run_and_report
from orchestrator.engines.chatllm.options import chatllm_dir_option
from orchestrator.errors import CannotStart
from orchestrator.results.tabular import format_option
from orchestrator.run import preflight
from orchestrator.run.plan import RunPlan
from orchestrator.studies import reproduce as study


def checked_plan(exp: study.Experiment, kw: dict) -> tuple[RunPlan, list[str]]:
    """The experiment's plan after every check `orch compare` makes; CannotStart lists the
    problems. Missing models are refused first, with the command that makes them."""
    study.check_models(exp, kw.get("models_dir") or study.MODELS_DIR)
    plan, notes = RunPlan.build(study.plan_inputs(exp, kw))
    notes = study.choose_strategies(exp, kw.get("strategies"))[1] + notes
    problems = preflight.preflight(plan, label=option_flag)
    problems += output_problems(
        plan,
        {
            "out": str(plan.out_dir),
            "json_path": kw.get("json_path"),
            "no_history": kw.get("no_history", True),
            "db": kw.get("db"),
        },
    )
    if problems:
        raise CannotStart(problems)
    return plan, notes


@click.command()
@click.argument("experiment", type=click.Choice(sorted(study.EXPERIMENTS)))
@click.option(
    "--iters",
    type=click.IntRange(1),
    default=None,
    help="Iterations per strategy (default: the study's: exp1 10, the others 100).",
)
@click.option(
    "--strategies",
    default=None,
    help="Comma-separated strategies instead of the experiment's (a note names the difference).",
)
@click.option(
    "--models-dir",
    default=study.MODELS_DIR,
    show_default=True,
    help="Where the full-shape models are (orch make-test-models --shape full).",
)
@click.option(
    "--audio",
    type=click.Path(dir_okay=False),
    default=None,
    help="Audio to transcribe/align (default: the repository's samples/phone-zh.wav).",
)
@click.option(
    "--transcript",
    type=click.Path(dir_okay=False),
    default=None,
    help="exp4: transcript to align (default: X.txt beside X.wav).",
)
@chatllm_dir_option("chatllm.cpp checkout (env CHATLLM_DIR), e.g. a build with the layers.h destroy fix.")
@click.option(
    "--threads", type=click.IntRange(1), default=study.DEFAULT_THREADS, show_default=True, help="chatllm: threads."
)
@click.option(
    "--max-new-tokens",
    type=click.IntRange(1),
    default=study.DEFAULT_MAX_NEW_TOKENS,
    show_default=True,
    help="chatllm: bound on each output (random weights rarely stop).",
)
@click.option(
    "--max-rss-mb",
    type=click.FloatRange(0),
    default=study.DEFAULT_MAX_RSS_MB,
    show_default=True,
    help="Memory guard per worker tree (0: off).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default="orch-results",
    show_default=True,
    help="Per-run folder with <strategy>.jsonl, worker logs and run.json.",
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the result JSON here too.")
@click.option("--db", help="History database (SQLite path or postgresql:// URL).")
@click.option("--no-history", is_flag=True, help="Do not store the run in the history database.")
@click.option("--dry-run", is_flag=True, help="Say what would run and how long; run nothing.")
@format_option()
def reproduce(experiment, **kw):
    """Run one of the study's experiments on the full-shape models: exp1 (one model,
    restart), exp2 (restart vs recreate vs recreate-destroy), exp3 (0.6B <-> 1.7B switch),
    exp4 (forced aligner, recreate vs restart)."""
    exp = study.EXPERIMENTS[experiment]
    kw["progress"] = sys.stdout.isatty()
    kw["srt_path"] = None
    plan, notes = checked_plan(exp, kw)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    # json/csv go to stdout alone: the description then goes to stderr
    click.echo(study.describe(exp, plan), err=kw["fmt"] in ("json", "csv"))
    if kw["dry_run"]:
        return
    run_and_report(plan, kw)
