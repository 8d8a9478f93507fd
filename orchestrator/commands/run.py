"""`orch run` and `orch compare`: build a RunPlan from options, execute it, print the table.

Exit codes: 0 every strategy ok (or skipped as not applicable), 1 a strategy crashed,
timed out or failed, 2 the run could not start (bad option, missing input), 130 Ctrl-C
(what was measured is written first).
"""

from __future__ import annotations

import click

from orchestrator.commands import startup_problems

# the command line's words as a run's inputs: here for the commands that import them from run
from orchestrator.commands.run_inputs import (  # noqa: E402,F401
    inputs_from_cli,
    one_model,
    option_flag,
    output_problems,
    run_progress,
)
from orchestrator.commands.startup_problems import option
from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.decoding import DECODINGS
from orchestrator.errors import CannotStart, ExitCode
from orchestrator.results.model import Thresholds
from orchestrator.results.tabular import format_option
from orchestrator.run import strategies as registry
from orchestrator.run.plan import (
    ENGINES,
    MAX_ITERS,
    MAX_ITERS_WHY,
    MAX_SAMPLE_HZ,
    MAX_SAMPLE_HZ_WHY,
    NO_STRATEGY,
    SCENARIOS,
    RunPlan,
)
from orchestrator.run.preflight import preflight

# The options are plain types: a range, a choice of strategy or a path is checked with the
# plan (RunPlan.validate, preflight, output_problems) and a value click cannot read is noted
# (startup_problems), so every start-up problem is named in one message. The runner (numpy,
# scipy) is imported when a run starts, not for --help.

DEFAULT = RunPlan(strategies=[])  # what the command line shows as defaults: RunPlan's own


def engine_option_decorators():
    """Every engine's flags, from its options dataclass (orchestrator/engines/fields.py)."""
    classes = [spec.options for spec in engine_registry.REGISTRY.values()]
    return fields.click_options(classes, option_cls=startup_problems.CollectedOption)


MODEL_HELP = "Model file (chatllm, crispasr), folder (transformers, onnx, openvino) or label NAME[:MB] (calibration); asr and align take one."
ENGINES_MODEL_HELP = " With --engines: ENGINE=PATH, once per engine (repeatable)."


def _run_option_decorators(repeat_model: bool = False):
    """What runs: iterations, engine, scenario and models (`repeat_model`: --model may be given
    once per engine, `orch compare --engines`)."""
    return [
        option(
            "--iters",
            type=int,
            default=DEFAULT.iters,
            show_default=True,
            help=f"Iterations per strategy, 1 to {MAX_ITERS:,} ({MAX_ITERS_WHY}).",
        ),
        option(
            "--warmup",
            type=int,
            default=DEFAULT.warmup,
            show_default=True,
            help="Leading iterations recorded but left out of the statistics.",
        ),
        option("--engine", type=click.Choice(ENGINES), default=DEFAULT.engine, show_default=True),
        option("--scenario", type=click.Choice(SCENARIOS), default=DEFAULT.scenario, show_default=True),
        option(
            "--decoding",
            type=click.Choice(DECODINGS),
            default=DEFAULT.decoding,
            show_default=True,
            help="greedy: the same input gives the same text, and a text that changes between requests "
            "is reported as drift (a failure); sampled: the engine's own sampling, texts may differ.",
        ),
        option(
            "--model",
            "model",
            multiple=repeat_model,
            help=MODEL_HELP + (ENGINES_MODEL_HELP if repeat_model else ""),
        ),
        option("--models", help="Comma-separated models for --scenario switch (two or more)."),
        option(
            "--worker-env",
            multiple=True,
            metavar="NAME[=VALUE]",
            help="Give the workers NAME (orch's own value) or NAME=VALUE (repeatable); otherwise they get only "
            "an allow list of orch's environment (PATH, HOME, locale, ...). Recorded in the result.",
        ),
    ]


def _input_option_decorators():
    """The audio and the texts it is scored or aligned against."""
    return [
        option("--audio", metavar="FILE", help="Audio file to transcribe."),
        option("--reference", metavar="FILE", help="Reference transcript (default: X.txt beside X.wav)."),
        option(
            "--transcript",
            metavar="FILE",
            help="Transcript to align (--scenario align; default: X.txt beside X.wav).",
        ),
        option("--language", help="Language to ask for (chatllm: e.g. Chinese, English)."),
    ]


def _output_option_decorators():
    """Where the results are written: SRT, JSON and the per-run folder."""
    return [
        option(
            "--srt",
            "srt_path",
            metavar="PATH",
            help="--scenario align: write the last iteration's words as SRT (one file per strategy).",
        ),
        option("--json", "json_path", metavar="PATH", help="Write the result JSON here too."),
        option(
            "--out",
            metavar="DIR",
            default=str(DEFAULT.out_dir),
            show_default=True,
            help="Per-run folder with <strategy>.jsonl, worker logs and run.json.",
        ),
    ]


def _memory_option_decorators():
    """How workers are watched: timeout, memory sampling, idle wait and the memory guard."""
    return [
        option(
            "--iter-timeout",
            type=float,
            default=DEFAULT.iter_timeout,
            show_default=True,
            help="Seconds without progress before a worker is killed (status timeout).",
        ),
        option(
            "--sample-hz",
            type=float,
            default=DEFAULT.sample_hz,
            show_default=True,
            help=f"External memory sampling rate, 0 to {MAX_SAMPLE_HZ:g} (0: only at phase marks; at most "
            f"{MAX_SAMPLE_HZ:g}: {MAX_SAMPLE_HZ_WHY}).",
        ),
        option(
            "--idle-s",
            type=float,
            default=DEFAULT.idle_s,
            show_default=True,
            help="A long-lived worker waits this long after its last request, then one more mark "
            "(after_idle): what memory comes back at rest (0: none).",
        ),
        option(
            "--max-rss-mb",
            type=float,
            default=None,
            help="Memory guard: stop a worker whose process tree passes this many MB (status "
            "memory-limit). Default: 80% of the memory available at the start; 0: off.",
        ),
        option(
            "--resource-guard",
            type=float,
            default=None,
            metavar="SHARE",
            help="Resource guard: stop a worker whose process tree reaches this share of a limit (threads: "
            "the thread limit, fds: ulimit -n, maps: vm.max_map_count) at a phase mark (status "
            "resource-limit). Default: 0.9; 0: off.",
        ),
    ]


def _verdict_option_decorators():
    """The thresholds that decide stable vs. growing vs. plateau."""
    return [
        option(
            "--growth-threshold-mb",
            type=float,
            default=Thresholds.growth_mb_per_iter,
            show_default=True,
            help="Growth per iteration under which a strategy is stable.",
        ),
        option(
            "--plateau-min-tail",
            type=int,
            default=Thresholds.plateau_min_tail,
            show_default=True,
            help="Flat iterations needed at the end to call growth a plateau.",
        ),
    ]


def _history_option_decorators():
    """The history database, and the table format."""
    return [
        option("--db", help="History database (SQLite path or postgresql:// URL)."),
        option("--no-history", is_flag=True, help="Do not store the run in the history database."),
        format_option(cls=startup_problems.CollectedOption),
    ]


def common_options(f=None, *, repeat_model: bool = False):
    """The options `orch run`, `orch compare` and the commands that build a RunPlan share, in
    the order --help lists them; `@common_options(repeat_model=True)`: --model repeatable
    (compare, for --engines)."""
    if f is None:
        return lambda g: common_options(g, repeat_model=repeat_model)
    decorators = (
        _run_option_decorators(repeat_model)
        + _input_option_decorators()
        + _output_option_decorators()
        + _memory_option_decorators()
        + _verdict_option_decorators()
        + _history_option_decorators()
    )
    for d in reversed(decorators + engine_option_decorators()):
        f = d(f)
    return f


def plan_from_options(strategies, kw, strategies_problem: str | None = None) -> RunPlan:
    """The plan, after every check that can be made before a worker starts: the values click
    could not read, the plan itself, its input files, where its results and history go.
    CannotStart lists every problem. `strategies_problem`: what the command found wrong with
    how strategies were asked for (it replaces the plan's "no strategy given")."""
    problems = startup_problems.take()
    plan, notes = RunPlan.build(inputs_from_cli(list(strategies), kw))
    found = preflight(plan, label=option_flag)
    if strategies_problem:
        found = [strategies_problem] + [p for p in found if not p.startswith(NO_STRATEGY)]
    problems += found + output_problems(plan, kw)
    if problems:
        raise CannotStart(problems)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    return plan


def run_and_report(plan: RunPlan, kw) -> None:
    """Run the plan, print its tables, store it; exit with what it found (`run`, `compare`,
    `reproduce`)."""
    # lazy: the runner, analysis and history import numpy, scipy and SQLAlchemy; --help must not
    from orchestrator.history.save import store_history
    from orchestrator.results import output
    from orchestrator.results.drift import drifted_strategies
    from orchestrator.run.runner import RunInterrupted, execute, save
    from orchestrator.studies.attribution import attribute_growing

    try:
        result = execute(plan, progress_factory=run_progress(plan))
        # ok: every strategy ok or skipped, no text changed under greedy decoding, no resource grows
        growing = any(output.growing_resources(r, failing=True) for r in result.results)
        code = ExitCode.OK if result.ok and not drifted_strategies(result) and not growing else ExitCode.FAILED
    except RunInterrupted as exc:
        result, code = exc.result, ExitCode.INTERRUPTED
        click.echo(f"interrupted: what was measured is written below and in {plan.run_dir / 'run.json'}", err=True)
    if kw.get("srt_path"):
        for path in output.write_srt(result, kw["srt_path"]):
            click.echo(f"wrote {path}", err=True)
    click.echo(output.result_table(result, kw["fmt"]))
    per_model = output.switch_table(result, kw["fmt"]) if kw["fmt"] in ("table", "md") else None
    if per_model:  # scenario switch: the per-model memory story
        click.echo("\n" + per_model)
    resources = output.resource_table(result, kw["fmt"]) if kw["fmt"] in ("table", "md") else None
    if resources:  # threads, fds, maps, VmSize, VmHWM per iteration (docs/resources.md)
        click.echo("\n" + resources)
    if kw.get("attribute") and result.results:
        texts = attribute_growing(plan, result)
        save(plan, result)
        click.echo("\n" + "\n".join(texts))
    if kw["fmt"] == "table":
        click.echo(output.result_footer(result, plan.run_dir))
    if not kw["no_history"]:
        store_history(result, kw["db"])
    click.get_current_context().exit(code)


@click.command()
@option(
    "--strategy",
    metavar=f"[{'|'.join(registry.NAMES)}]",
    help="The strategy (required; `orch compare` runs several).",
)
@option(
    "--attribute",
    is_flag=True,
    help="Then re-run every growing strategy under memray --native and name the stacks that keep the memory "
    "(orch attribute; docs/attribution.md).",
)
@common_options
def run(strategy, **kw):
    """Run one strategy for --iters iterations in its own worker process."""
    missing = None if strategy else f"--strategy is required: one of {', '.join(registry.NAMES)}"
    run_and_report(plan_from_options([strategy] if strategy else [], kw, missing), kw)


@click.command()
@option("--all", "all_", is_flag=True, help=f"Every strategy the engine can run: {', '.join(registry.NAMES)}.")
@option("--strategies", help="Comma-separated strategies.")
@option(
    "--attribute",
    is_flag=True,
    help="Then re-run every growing strategy under memray --native and name the stacks that keep the memory "
    "(orch attribute; docs/attribution.md).",
)
@option(
    "--engines",
    metavar="A,B,...",
    help="Compare engines: every engine x strategy in turn (without --strategies: every strategy each runs), "
    "one table with each row's speed against the host's measured limits (docs/limits.md).",
)
@option(
    "--model-name",
    metavar="NAME",
    help="--engines: the test model each engine without --model ENGINE=PATH uses, as `orch make-test-models` "
    "made it (default: tiny-asr-a; with --shape full: shape-qwen3-asr-0.6b).",
)
@option("--shape", type=click.Choice(["tiny", "full"]), help="--engines: the test models' family (default: tiny).")
@option(
    "--limits/--no-limits",
    default=True,
    show_default=True,
    help="--engines: measure the host's memory bandwidth and matmul peak first (a few seconds, in a subprocess).",
)
@common_options(repeat_model=True)
def compare(all_, strategies, engines, model_name, shape, limits, **kw):
    """Run several strategies, one after another, each in its own worker process(es); with
    --engines, on several engines, into one table."""
    if engines is not None:
        from orchestrator.commands.compare_engines import compare_engines

        kw.update(model_name=model_name, shape=shape, limits=limits)
        compare_engines(click.get_current_context(), engines, all_, strategies, kw)
        return
    given = [flag for flag, value in (("--model-name", model_name), ("--shape", shape)) if value]
    if click.get_current_context().get_parameter_source("limits") is click.core.ParameterSource.COMMANDLINE:
        given.append("--limits/--no-limits")
    if given:
        raise CannotStart(f"{', '.join(given)}: only with --engines (the test model of each engine compared)")
    kw["model"] = one_model(kw["model"])
    problem = None
    if all_ == (strategies is not None):
        problem = f"give either --all or --strategies a,b{', not both' if all_ else ''}"
    if all_ and strategies is None:
        chosen = registry.for_engine(kw["engine"] or DEFAULT.engine)
    else:  # unknown, repeated or no strategies: named with every other problem (RunPlan.validate)
        chosen = [s.strip() for s in (strategies or "").split(",") if s.strip()]
    run_and_report(plan_from_options(chosen, kw, problem), kw)
