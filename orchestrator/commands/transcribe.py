"""`orch transcribe FILE|DIR ...`: parse the options, run the pipeline
(orchestrator.run.transcribe), show it (orchestrator.results.transcript_view).

Exit codes: 0 every file transcribed, 1 a file failed, 2 cannot start (a missing file, no
audio, a reference that is not UTF-8, a folder with no audio, ...: every problem in one
`orch: cannot start:` message), 130 Ctrl-C (143 SIGTERM, 129 SIGHUP: the same) (every finished file's record kept).
"""

from __future__ import annotations

import sys

import click

from orchestrator import stop_signals
from orchestrator.commands import startup_problems
from orchestrator.commands.options import ENGINE_HELP, engine_option_decorators
from orchestrator.commands.startup_problems import option
from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart, ExitCode, OrchError
from orchestrator.run.plan import ENGINES

DEFAULT_TIMEOUT_S = 120.0


def _options(f):
    decorators = [
        option(
            "--engine",
            type=click.Choice(ENGINES),
            metavar="NAME",
            default="calibration",
            show_default=True,
            help=ENGINE_HELP,
        ),
        option("--model", help="ASR model: a file, a folder or a label, as the engine takes it (`orch engines NAME`)."),
        option(
            "--aligner-model",
            help="Forced aligner model for --srt (chatllm: e.g. qwen3-forced-aligner-0.6b-q4_0.bin).",
        ),
        option("--language", help="Language to ask for and score in (default: guessed as `orch run` does)."),
        option(
            "--reference",
            metavar="FILE",
            help="Reference transcript of the one audio file (default: X.txt beside each X.wav): CER/WER.",
        ),
        option(
            "--srt",
            metavar="PATH|DIR",
            help="Word times through the forced aligner, as SRT: PATH for one file, DIR/X.srt for each X.wav.",
        ),
        option("--json", "json_path", metavar="PATH", help="Every file's record as one JSON list, kept current."),
        option("--jsonl", "jsonl_path", metavar="PATH", help="One JSON record per line, written as each file ends."),
        option(
            "--iter-timeout",
            type=float,
            default=DEFAULT_TIMEOUT_S,
            show_default=True,
            help="Seconds without progress before a file fails and its worker is killed.",
        ),
    ]
    for d in reversed(decorators + engine_option_decorators()):
        f = d(f)
    return f


@click.command()
@click.argument("paths", nargs=-1, metavar="FILE|DIR ...")
@_options
def transcribe(paths, **kw):
    """Transcribe audio files (or every audio file in a folder) with one model load: the text streamed as it comes, then zh-TW + ITN, TTFT, RTF, CER/WER against a reference, SRT."""
    from orchestrator.results.transcript_view import TerminalView, interrupted_line
    from orchestrator.run.transcribe import TranscribeInterrupted
    from orchestrator.run.transcribe import transcribe as run_pipeline
    from orchestrator.run.transcribe_inputs import TranscribeRequest, prepare

    problems = startup_problems.take()
    spec = engine_registry.REGISTRY.get(kw["engine"] or "calibration")
    engine_options = fields.from_cli(spec.options, kw) if spec else {}  # as `orch run` reads them
    request = TranscribeRequest(
        paths=list(paths),
        engine=kw["engine"] or "calibration",
        model=kw["model"],
        aligner_model=kw["aligner_model"],
        language=kw["language"],
        reference=kw["reference"],
        srt=kw["srt"],
        json_path=kw["json_path"],
        jsonl_path=kw["jsonl_path"],
        iter_timeout=kw["iter_timeout"] if kw["iter_timeout"] is not None else DEFAULT_TIMEOUT_S,
        engine_options=engine_options,
    )
    try:
        job, notes = prepare(request)
    except CannotStart as exc:
        raise CannotStart(problems + exc.problems) from None
    if problems:
        raise CannotStart(problems)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    view = TerminalView(sys.stdout, sys.stderr, len(job.inputs), progress=sys.stderr.isatty())
    try:
        summary = run_pipeline(job, view)
    except TranscribeInterrupted as exc:
        view.interrupted()
        where = [str(p) for p in (job.jsonl_path, job.json_path) if p]
        raise OrchError(interrupted_line(exc.summary, where), stop_signals.exit_code()) from None
    view.finished(summary)
    if summary.failed:
        click.get_current_context().exit(ExitCode.FAILED)
