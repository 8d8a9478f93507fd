"""The `orch` command line. Sub-commands live in their own modules and are imported only
when used, so `orch itn` does not pay for numpy/scipy and a missing optional piece breaks
only the command that needs it."""

import importlib
import importlib.util
import sys
import tempfile
import traceback

import click

from orchestrator import __version__
from orchestrator.errors import EXIT_FAILED, EXIT_INTERRUPTED, OrchError

# command name -> "module:attribute" of a click.Command
COMMANDS = {
    "run": "orchestrator.commands.run:run",
    "compare": "orchestrator.commands.run:compare",
    "ab": "orchestrator.studies.ab:ab",
    "selftest": "orchestrator.studies.selftest:selftest",
    "itn": "orchestrator.commands.quality:itn",
    "score": "orchestrator.commands.quality:score",
    "history": "orchestrator.commands.history:history",
    "report": "orchestrator.commands.history:report",
    "soak": "orchestrator.studies.soak:soak",
    "doctor": "orchestrator.commands.doctor:doctor",
    "make-test-models": "orchestrator.engines.chatllm.testmodels:make_test_models",
    "reproduce": "orchestrator.studies.reproduce:reproduce",
    "attribute": "orchestrator.studies.attribution:attribute",
    "retention": "orchestrator.studies.retention:retention",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if self._spec_exists(name))

    @staticmethod
    def _spec_exists(name):
        module = COMMANDS[name].split(":")[0]
        try:
            return importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its parent package is not there either
            return False

    def get_command(self, ctx, name):
        if name not in COMMANDS or not self._spec_exists(name):
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx):
        """The one place where errors become exit codes (orchestrator.errors): a message,
        never a traceback."""
        try:
            return super().invoke(ctx)
        except OrchError as exc:
            click.echo(f"orch: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("orch: interrupted (Ctrl-C)", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # a bug in orch: one line here, the traceback in a file
            ctx.exit(_internal_error(exc))


def _internal_error(exc: BaseException) -> int:
    with tempfile.NamedTemporaryFile("w", prefix="orch-traceback-", suffix=".txt", delete=False) as f:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=f)
    print(f"orch: internal error: {type(exc).__name__}: {exc} (traceback in {f.name})", file=sys.stderr)
    return EXIT_FAILED


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orch")
def main():
    """Benchmark and soak-test repeated speech inference on CPU (chatllm.cpp Qwen3-ASR),
    with every worker's memory measured from outside the process."""
