"""The `orch` command line. Sub-commands live in their own modules and are imported only
when used, so `orch itn` does not pay for numpy/scipy and a missing optional piece breaks
only the command that needs it."""

import importlib
import importlib.util

import click

from orchestrator import __version__

# command name -> "module:attribute" of a click.Command
COMMANDS = {
    "run": "orchestrator.commands_run:run",
    "compare": "orchestrator.commands_run:compare",
    "selftest": "orchestrator.selftest:selftest",
    "itn": "orchestrator.quality.commands:itn",
    "score": "orchestrator.quality.commands:score",
    "history": "orchestrator.history.commands:history",
    "report": "orchestrator.history.commands:report",
    "soak": "orchestrator.history.soak:soak",
    "doctor": "orchestrator.doctor:doctor",
    "make-test-models": "orchestrator.testmodels:make_test_models",
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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orch")
def main():
    """Benchmark and soak-test repeated speech inference on CPU (chatllm.cpp Qwen3-ASR),
    with every worker's memory measured from outside the process."""
