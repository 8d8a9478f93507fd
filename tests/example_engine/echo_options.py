"""Parent side of the example engine `echo` (docs/engines.md): its options and its entry."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.engines import fields
from orchestrator.engines.fields import option
from orchestrator.engines.registry import EngineSpec


@dataclass(frozen=True)
class EchoOptions:
    """What to answer, and how long to take."""

    text: str | None = option("text", default="hello from echo", flag="--echo-text", help="echo: the answer.")
    delay_ms: float | None = option("number", default=5.0, flag="--echo-delay-ms", help="echo: time per request.")

    engine = "echo"

    def problems(self) -> list[str]:
        return fields.problems(self)

    def to_worker(self) -> dict:
        return fields.to_worker(self)

    def describe(self) -> dict:
        return fields.describe(self)


SPEC = EngineSpec(
    "echo",
    "answers every request with a fixed text after a fixed delay",
    EchoOptions,
    "tests.example_engine.echo_worker:EchoEngine",
    ("restart", "recreate", "fresh-process"),  # no command-line program: no cli strategies
)
