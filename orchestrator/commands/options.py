"""The options several commands share, declared once: a run's (`common_options`: run, compare,
ab, attribute, retention), every engine's (`engine_option_decorators`: left out of --help,
listed by `orch engines`), compare's own (`compare_option_decorators`: compare, and `orch ab`
reading a side's words with `compare_parser()`)."""

from __future__ import annotations

import click

from orchestrator.commands import startup_problems
from orchestrator.commands.startup_problems import option
from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.engines.decoding import DECODINGS
from orchestrator.results.model import Thresholds
from orchestrator.results.tabular import format_option
from orchestrator.run import strategies as registry
from orchestrator.run.plan import (
    ENGINES,
    MAX_ITERS,
    MAX_ITERS_WHY,
    MAX_SAMPLE_HZ,
    MAX_SAMPLE_HZ_WHY,
    SCENARIOS,
    RunPlan,
)

# The options are plain types: a range, a choice of strategy or a path is checked with the
# plan (RunPlan.validate, preflight, output_problems) and a value click cannot read is noted
# (startup_problems), so every start-up problem is named in one message. The runner (numpy,
# scipy) is imported when a run starts, not for --help.

DEFAULT = RunPlan(strategies=[])  # what the command line shows as defaults: RunPlan's own


ENGINE_OPTIONS_NOTE = (
    "Each engine's options (--threads, --max-new-tokens, ...) are taken here too; `orch engines` "
    "lists them under their engine (`orch engines NAME`: one engine's)."
)


def engine_option_decorators():
    """Every engine's flags, from its options dataclass (orchestrator/engines/fields.py),
    left out of the command's --help (which says where they are: `orch engines`), so an engine
    added changes no command's help."""
    classes = [spec.options for spec in engine_registry.REGISTRY.values()]
    return [*fields.click_options(classes, option_cls=startup_problems.CollectedOption, hidden=True), _note_engines]


def _note_engines(f):
    """The command's help ends saying where the engines' options are listed."""
    doc = (f.__doc__ or "").rstrip()
    indents = [len(line) - len(line.lstrip()) for line in doc.split("\n")[1:] if line.strip()]
    f.__doc__ = doc + "\n\n" + " " * min(indents, default=0) + ENGINE_OPTIONS_NOTE
    return f


ENGINE_HELP = "The engine (`orch engines` lists them)."
MODEL_HELP = "Model: a file, a folder or a label, as the engine takes it (`orch engines NAME`); asr and align take one."
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
        option(
            "--engine",
            type=click.Choice(ENGINES),
            metavar="NAME",
            default=DEFAULT.engine,
            show_default=True,
            help=ENGINE_HELP,
        ),
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
        option("--language", help="Language to ask for (e.g. Chinese, English)."),
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


def compare_option_decorators() -> list:
    """`orch compare`'s own options, before the run's (common_options)."""
    return [
        option("--all", "all_", is_flag=True, help=f"Every strategy the engine can run: {', '.join(registry.NAMES)}."),
        option("--strategies", help="Comma-separated strategies."),
        option(
            "--attribute",
            is_flag=True,
            help="Then re-run every growing strategy under memray --native and name the stacks that keep the memory "
            "(orch attribute; docs/attribution.md).",
        ),
        option(
            "--engines",
            metavar="A,B,...",
            help="Compare engines: every engine x strategy in turn (without --strategies: every strategy each runs), "
            "one table with each row's speed against the host's measured limits (docs/limits.md).",
        ),
        option(
            "--model-name",
            metavar="NAME",
            help="--engines: the test model each engine without --model ENGINE=PATH uses, as `orch make-test-models` "
            "made it (default: tiny-asr-a; with --shape full: shape-qwen3-asr-0.6b).",
        ),
        option(
            "--shape", type=click.Choice(["tiny", "full"]), help="--engines: the test models' family (default: tiny)."
        ),
        option(
            "--limits/--no-limits",
            default=True,
            show_default=True,
            help="--engines: measure the host's memory bandwidth and matmul peak first (a few seconds, in a subprocess).",
        ),
    ]


def compare_parser() -> click.Command:
    """A command with `orch compare`'s options, to read a side's words (`orch ab`)."""

    def side(**_kw):
        pass

    for d in reversed(compare_option_decorators()):
        side = d(side)
    return click.command("compare")(common_options(side, repeat_model=True))
