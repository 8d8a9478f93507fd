"""An engine's options, declared once: each is a field of the engine's frozen dataclass whose
metadata (an `OptionMeta`, made by `option()`) says everything the rest of orch needs of it:

- its kind and least value: checked when the options are built (`problems`) and in a soak
  config (`soak_check`);
- its default: the one place the engine's default is written; `to_worker` sends every
  option to the worker with the default filled in, so the worker keeps no defaults;
- its command-line flag and help: `click_options` makes the options of run, compare and
  every command that takes run options (`from_cli` reads them back);
- whether the user sets it at all (the plan sets chatllm.cpp's commit, aligner, language).

A field's dataclass default is None ("not given"), so `describe()` (the result's `engine`
block) records what was given, as before; `OptionMeta.default` is what the worker gets then.
Importing this module is cheap: click and the standard library only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

KINDS = ("number", "integer", "flag", "text", "texts", "path", "args")


@dataclass(frozen=True)
class OptionMeta:
    kind: str  # one of KINDS
    default: Any = None  # the engine's default (None: none, the worker leaves it out)
    low: float | None = None  # least value of a number or integer
    choices: tuple[str, ...] | None = None  # the values a text may take (None: any)
    flag: str | None = None  # command-line flag ("--ttft-ms"); None: none
    param: str | None = None  # click's parameter name when it is not the flag's ("engine_args")
    help: str = ""  # command-line help; "{default}" is replaced by the default
    click: dict = dataclasses.field(default_factory=dict)  # more click arguments (envvar, is_flag, ...)
    settable: bool = True  # False: the plan sets it (not a soak key, not a flag)

    @property
    def param_name(self) -> str | None:
        if self.flag is None:
            return None
        return self.param or self.flag.lstrip("-").replace("-", "_")


def option(kind: str, *, default: Any = None, field_default: Any = None, **meta: Any) -> Any:
    """A dataclass field for an engine option (see OptionMeta for `meta`). `field_default`:
    the dataclass's own default, None ("not given") unless the value is always recorded."""
    assert kind in KINDS, kind
    factory = list if kind == "args" else None
    info = {"orch": OptionMeta(kind=kind, default=default, **meta)}
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata=info)
    return dataclasses.field(default=field_default, metadata=info)


def metas(cls: type) -> list[tuple[str, OptionMeta]]:
    """(field name, OptionMeta) in declaration order."""
    return [(f.name, f.metadata["orch"]) for f in dataclasses.fields(cls)]


def known_keys(cls: type) -> tuple[str, ...]:
    return tuple(name for name, _ in metas(cls))


def settable_keys(cls: type) -> tuple[str, ...]:
    """What a user may give (a soak config's engine_options; run's flags map to these)."""
    return tuple(name for name, meta in metas(cls) if meta.settable)


def _number_problem(name: str, value: Any, low: float, integer: bool) -> str | None:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not math.isfinite(value) or value < low:
        kind = "an integer" if integer else "a number"
        return f"{name} must be {kind} >= {low:g}, not {value!r}"
    return None


def problems(options: Any) -> list[str]:
    """What is wrong with the numbers given (None: not given, nothing to check)."""
    out = []
    for name, meta in metas(type(options)):
        value = getattr(options, name)
        if value is not None and meta.kind in ("number", "integer"):
            out.append(_number_problem(name, value, meta.low or 0, meta.kind == "integer"))
        if value is not None and meta.choices and value not in meta.choices:
            out.append(f"{name} must be one of {', '.join(meta.choices)}, not {value!r}")
    return [p for p in out if p]


def to_worker(options: Any) -> dict:
    """Every option, as the worker gets it: a value not given is the engine's default."""
    out = {}
    for name, meta in metas(type(options)):
        value = getattr(options, name)
        out[name] = list(value) if isinstance(value, (list, tuple)) else value
        if out[name] is None:
            out[name] = meta.default
    return out


def describe(options: Any) -> dict:
    """What was given (the result's `engine` block): every option that is not None."""
    return {k: v for k, v in dataclasses.asdict(options).items() if v is not None}


def soak_check(meta: OptionMeta) -> Callable[[Any], str | None]:
    """Why a soak config's value cannot be this option, or None."""

    def check(value: Any) -> str | None:
        if meta.kind in ("number", "integer"):
            integer = meta.kind == "integer"
            ok = isinstance(value, int) if integer else isinstance(value, (int, float))
            low = meta.low or 0
            if isinstance(value, bool) or not ok or not math.isfinite(value) or value < low:
                return f"must be {'an integer' if integer else 'a number'} >= {low:g}, not {value!r}"
            return None
        if meta.kind == "flag":
            return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
        if meta.kind == "path" and isinstance(value, str) and "\0" in value:
            return f"must be a path, not {value!r} (a NUL character)"
        if meta.choices:
            return None if value in meta.choices else f"must be one of {', '.join(meta.choices)}, not {value!r}"
        if meta.kind in ("text", "path"):
            return None if isinstance(value, str) and value.strip() else f"must be a non-empty string, not {value!r}"
        if meta.kind == "texts":
            if (isinstance(value, str) and value.strip()) or (
                isinstance(value, list) and value and all(isinstance(x, str) and x.strip() for x in value)
            ):
                return None
            return f"must be a string or a list of strings, not {value!r}"
        # args: passed through as they are
        if isinstance(value, list) and all(isinstance(x, str) for x in value):
            return None
        return f"must be a list of strings, not {value!r}"

    return check


_CLICK_TYPES = {"number": float, "integer": int}


def _help(meta: OptionMeta) -> str:
    if "{default}" not in meta.help:
        return meta.help
    return meta.help.replace("{default}", f"{meta.default:g}" if meta.kind == "number" else str(meta.default))


def click_option(meta: OptionMeta, option_cls: type[click.Option] | None = None, **overrides: Any) -> Callable:
    """The click decorator of one option (`overrides`: what a command says differently, e.g.
    its own help)."""
    assert meta.flag is not None
    decls = [meta.flag] + ([meta.param] if meta.param else [])
    kwargs: dict[str, Any] = {"default": None}
    if meta.kind in _CLICK_TYPES:
        kwargs["type"] = _CLICK_TYPES[meta.kind]
    if meta.choices:
        kwargs["type"] = click.Choice(meta.choices)
    if meta.kind == "args":
        kwargs["multiple"] = True
        kwargs.pop("default")
    kwargs.update(meta.click)
    kwargs["help"] = _help(meta)
    kwargs.update(overrides)
    if option_cls is not None:
        kwargs["cls"] = option_cls
    return click.option(*decls, **kwargs)


def click_options(
    classes: list[type], option_cls: type[click.Option] | None = None, hidden: bool = False
) -> list[Callable]:
    """Every engine's flags, in the engines' order and each engine's field order; a flag two
    engines share (--threads, --trim-after-unload) once, where the first declares it, with
    each engine's help when they differ ("chatllm: threads (-n). transformers: ...").
    `hidden`: left out of the command's --help (`orch engines` lists them by engine)."""
    first: dict[str, OptionMeta] = {}
    helps: dict[str, list[str]] = {}
    for cls in classes:
        for _name, meta in metas(cls):
            if meta.flag:
                first.setdefault(meta.flag, meta)
                if _help(meta) not in helps.setdefault(meta.flag, []):
                    helps[meta.flag].append(_help(meta))
    return [
        click_option(
            meta, option_cls, hidden=hidden, **({"help": " ".join(helps[flag])} if len(helps[flag]) > 1 else {})
        )
        for flag, meta in first.items()
    ]


def from_cli(cls: type, kw: dict) -> dict:
    """The engine's options the command line gave (click's keyword arguments), by field name."""
    out = {}
    for name, meta in metas(cls):
        param = meta.param_name
        if param is not None and kw.get(param) not in (None, ()):
            out[name] = kw[param]
    return out
