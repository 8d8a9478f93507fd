"""Engine options by engine name: each engine's class is declared in its own package
(orchestrator/engines/<name>/options.py, built with fields.py) and listed in the registry.
The worker gets `to_worker()` (every option, defaults filled in: the one place they cross to
the child), the result's `engine` block gets `describe()` (what was given)."""

from __future__ import annotations

from typing import Protocol

from orchestrator.engines import fields, registry
from orchestrator.engines.calibration.options import CalibrationOptions
from orchestrator.engines.chatllm.options import ChatLLMOptions
from orchestrator.engines.planning import options_from
from orchestrator.errors import CannotStart

__all__ = ["CalibrationOptions", "ChatLLMOptions", "EngineOptions", "from_mapping", "known_keys", "options_class"]


class EngineOptions(Protocol):
    """An engine's options dataclass (CalibrationOptions, ChatLLMOptions, ...)."""

    def problems(self) -> list[str]: ...

    def to_worker(self) -> dict: ...

    def describe(self) -> dict: ...


def options_class(engine: str) -> type | None:
    spec = registry.REGISTRY.get(engine)
    return spec.options if spec else None


def known_keys(engine: str) -> tuple[str, ...]:
    return fields.known_keys(registry.get(engine).options)


def from_mapping(engine: str, values: dict | None) -> EngineOptions:
    """Typed options from a map (a soak config's `engine_options`, a test's dict); unknown
    keys and bad values are CannotStart, every one named."""
    cls = options_class(engine)
    if cls is None:
        raise CannotStart(f"unknown engine {engine!r}: choose from {', '.join(registry.REGISTRY)}")
    return options_from(cls, values)
