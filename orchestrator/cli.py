"""The `orch` command line. Sub-commands live in their own modules and are imported only
when used, so `orch itn` does not pay for numpy/scipy, a missing optional piece breaks
only the command that needs it, and `orch --help` imports none of them (their one-line
help is in COMMANDS)."""

import errno
import importlib
import importlib.util
import io
import os
import sys
import tempfile
import traceback

import click

from orchestrator import __version__, stop_signals
from orchestrator.errors import ExitCode, OrchError

# command name -> ("module:attribute" of a click.Command, its one-line help as `orch --help`
# lists it: the first sentence of its docstring, kept equal by tests/unit/test_cli_startup.py)
COMMANDS = {
    "run": (
        "orchestrator.commands.run:run",
        "Run one strategy for --iters iterations in its own worker process.",
    ),
    "compare": (
        "orchestrator.commands.run:compare",
        "Run several strategies, one after another, each in its own worker process(es); with --engines, on several engines, into one table.",
    ),
    "ab": (
        "orchestrator.commands.ab:ab",
        "A/B: the same plan on two sides (--a, --b), alternating strategy by strategy, --rounds times; "
        "B − A per figure with a 95% CI and a verdict (fixed, still grows, regressed, improved, no difference).",
    ),
    "engines": (
        "orchestrator.commands.engines:engines",
        "Every engine: what it is, the strategies it runs, what it needs, and its options (the flags of run, "
        "compare, ab, load and transcribe), grouped under its name.",
    ),
    "load": (
        "orchestrator.commands.load:load",
        "Put an engine x strategy under load as a small service and measure what its users see.",
    ),
    "selftest": (
        "orchestrator.commands.selftest:selftest",
        "Calibration engine through every strategy with known leaks and timings: injected vs. measured, "
        "pass or fail; exits 1 on any miss.",
    ),
    "stream": (
        "orchestrator.commands.stream:stream",
        "Feed audio to one engine worker chunk by chunk, as a live speaker would, and measure how soon and how "
        "stably the text follows.",
    ),
    "transcribe": (
        "orchestrator.commands.transcribe:transcribe",
        "Transcribe audio files (or every audio file in a folder) with one model load: the text streamed as it "
        "comes, then zh-TW + ITN, TTFT, RTF, CER/WER against a reference, SRT.",
    ),
    "itn": (
        "orchestrator.commands.quality:itn",
        "Inverse text normalization of Chinese numerals: reads lines from the FILES (default, or `-`: stdin) "
        "and writes each line normalized to stdout, exactly one line out per line in (一万三千七百零二 -> 13702).",
    ),
    "score": (
        "orchestrator.commands.quality:score",
        "CER / WER of a hypothesis against a reference, and the alignment (substitutions, deletions, insertions).",
    ),
    "history": (
        "orchestrator.commands.history:history",
        "List stored runs, newest first (one row per strategy); `history show RUN_ID` for one.",
    ),
    "report": (
        "orchestrator.commands.history:report",
        "Report on a stored run (RUN_ID, a unique prefix, `latest`, or a run.json file): HTML with memory "
        "and timing charts (a soak's run: also its key's history on its host, change points marked), "
        "Markdown/CSV tables; with no file option, print the comparison table.",
    ),
    "soak": (
        "orchestrator.commands.soak:soak",
        "Run a soak matrix, store it, compare with the baseline; exit 0 fine, 3 regression, 1 failed.",
    ),
    "doctor": (
        "orchestrator.commands.doctor:doctor",
        "Check what a run needs; say how to fix what is missing; exit 1 if it cannot start.",
    ),
    "make-test-models": (
        "orchestrator.commands.make_test_models:make_test_models",
        "Make random-weight Qwen3-ASR and Qwen3-ForcedAligner models in chatllm.cpp's format (or "
        "transformers' folders: --runtime transformers), for integration runs: tiny ones (A, B several times A, an aligner), or with --shape full the "
        "published models' every shape.",
    ),
    "reproduce": (
        "orchestrator.commands.reproduce:reproduce",
        "Run one of the study's experiments on the full-shape models: exp1 (one model, restart), exp2 "
        "(restart vs recreate vs recreate-destroy), exp3 (0.6B <-> 1.7B switch), exp4 (forced aligner, "
        "recreate vs restart).",
    ),
    "attribute": (
        "orchestrator.commands.attribute:attribute",
        "Re-run a strategy's worker under memray --native and name the call stacks whose memory, allocated "
        "in one iteration, stays live: MiB per iteration per stack.",
    ),
    "retention": (
        "orchestrator.commands.retention:retention",
        "Leak or retention? Run a strategy in arms that differ only in what glibc may keep (plain, "
        "malloc_trim after every unload, a trim-threshold tunable), compare the memory left at after_unload, "
        "and say leak, retention, both, or stable (docs/real-scale.md).",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if self._spec_exists(name))

    @staticmethod
    def _spec_exists(name):
        module = COMMANDS[name][0].split(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its parent package is not there either
            return False

    def get_command(self, ctx, name):
        if name not in COMMANDS or not self._spec_exists(name):
            return None
        module, attr = COMMANDS[name][0].split(":")
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx, formatter):
        """The command list from COMMANDS' one-line help, without importing a command: `orch
        --help` took 1.3-1.7 s importing every command's numpy/scipy (issue 18)."""
        names = self.list_commands(ctx)
        if names:
            limit = formatter.width - 6 - max(len(n) for n in names)
            rows = [(n, _shortened(COMMANDS[n][1], limit)) for n in names]
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def main(self, *args, **kwargs):
        _tolerate_closed_output()
        return super().main(*args, **kwargs)

    def invoke(self, ctx):
        """The one place where errors become exit codes (orchestrator.errors): a message,
        never a traceback. SIGTERM and SIGHUP stop a command as Ctrl-C does (stop_signals)."""
        try:
            with stop_signals.handled():
                return super().invoke(ctx)
        except OrchError as exc:
            click.echo(f"orch: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo(f"orch: interrupted ({stop_signals.reason()})", err=True)
            ctx.exit(stop_signals.exit_code())
        except click.UsageError as exc:  # click's own (an unknown option, a missing value): orch's form
            command = ctx.command_path + (f" {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "")
            click.echo(f"orch: cannot start: {exc.format_message().rstrip('.')} (see {command} --help)", err=True)
            ctx.exit(ExitCode.CANNOT_START)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # a bug in orch: one line here, the traceback in a file
            ctx.exit(_internal_error(exc))


def _shortened(text: str, limit: int) -> str:
    """`text` cut at a word to at most `limit` characters, "..." marking the cut (as click does)."""
    if len(text) <= limit:
        return text
    shown = ""
    for word in text.split():
        longer = f"{shown} {word}" if shown else word
        if len(longer) + 3 > limit:
            break
        shown = longer
    return shown + "..."


def _internal_error(exc: BaseException) -> int:
    with tempfile.NamedTemporaryFile("w", prefix="orch-traceback-", suffix=".txt", delete=False) as f:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=f)
    print(f"orch: internal error: {type(exc).__name__}: {exc} (traceback in {f.name})", file=sys.stderr)
    return ExitCode.FAILED


class _ReaderMayLeave(io.RawIOBase):
    """A standard stream's file descriptor; when its reader has gone (`orch itn big.txt |
    head -1`), the rest of the output goes to /dev/null, as `cat`'s would stop: the command
    carries on to its end (a run still stores what it measured) and keeps its exit code."""

    def __init__(self, fd: int):
        super().__init__()
        self.fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def isatty(self) -> bool:
        return os.isatty(self.fd)

    def write(self, data) -> int:
        try:
            return os.write(self.fd, data)
        except OSError as exc:  # a reader gone (EPIPE), a terminal hung up (EIO, after SIGHUP)
            if exc.errno not in (errno.EPIPE, errno.EIO):
                raise
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.fd)  # also what Python's flush at exit writes to
            os.close(devnull)
            return len(data)


def _tolerate_closed_output() -> None:
    """stdout and stderr through _ReaderMayLeave, keeping their encoding and buffering; only
    the process's own streams (a test's captured streams are left alone)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or stream is not getattr(sys, f"__{name}__") or isinstance(stream, _Tolerant):
            continue
        try:
            fd = stream.fileno()
        except (OSError, ValueError):
            continue
        stream.flush()
        raw = _ReaderMayLeave(fd)
        setattr(
            sys,
            name,
            _Tolerant(
                io.BufferedWriter(raw),
                encoding=stream.encoding,
                errors=stream.errors,
                line_buffering=stream.line_buffering,
                write_through=getattr(stream, "write_through", False),
            ),
        )


class _Tolerant(io.TextIOWrapper):
    """A text stream over _ReaderMayLeave (a type of its own so it is installed once)."""


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orch")
def main():
    """Benchmark and soak-test repeated speech inference on CPU (chatllm.cpp Qwen3-ASR),
    with every worker's memory measured from outside the process."""
