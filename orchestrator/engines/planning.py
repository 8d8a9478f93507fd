"""What an engine's part of building a plan shares (engines/<name>/plan.py): the options
typed with every bad one named, and the language guessed when none is given."""

from __future__ import annotations

from typing import Any

from orchestrator.engines import fields
from orchestrator.errors import CannotStart
from orchestrator.quality.pipeline import file_language


def options_from(cls: type, values: dict | None) -> Any:
    """The engine's options dataclass `cls` from a map; unknown keys and bad values are
    CannotStart, every one named."""
    values = dict(values or {})
    engine = cls.engine  # type: ignore[attr-defined]
    known = fields.known_keys(cls)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise CannotStart(
            [
                f"engine_options: {k!r} is not an option of the {engine} engine (known: {', '.join(known)})"
                for k in unknown
            ]
        )
    for name, meta in fields.metas(cls):
        if meta.kind == "texts" and isinstance(values.get(name), str):
            values[name] = [m for m in values[name].split(",") if m]
        if meta.kind == "args" and values.get(name) is not None:
            values[name] = list(values[name])
    options = cls(**values)
    problems = options.problems()
    if problems:
        raise CannotStart(problems)
    return options


def typed_options(plan: Any, cls: type, values: dict[str, Any]) -> Any:
    """The engine's options (its dataclass `cls`), typed; one that is wrong is left out and
    named in plan.option_problems (validate() reports it with every other problem)."""
    good = {}
    for key, value in values.items():
        try:
            options_from(cls, {key: value})
        except CannotStart as exc:
            plan.option_problems += exc.problems
        else:
            good[key] = value
    return options_from(cls, good)


def guess_language(plan: Any) -> tuple[str, str]:
    """(language, why) when --language is not given: the quality pipeline's per-file rule
    (orchestrator.quality.pipeline.file_language) for the plan's audio and reference."""
    return file_language(None, plan.audio, plan.reference)
