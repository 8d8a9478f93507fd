"""The worker protocol, version 3: the only contract between a worker and the parent.

Transport: two pipes given to the worker at start (`--event-fd`, `--ack-fd`). The worker
writes one JSON object per line to the event pipe; the parent writes one line `ack` to the
ack pipe for every `phase` event. The worker's stdout and stderr are free for the engine to
print on (the parent keeps them in a log file), so an engine that prints cannot corrupt the
protocol.

Every event carries `v` (the protocol version) and `type`, and the fields of its type: one
frozen dataclass per type below (`Ready`, `Phase`, ...), written by `encode(event)` and read
back by `decode(line, worker)`, which checks each field's JSON type (an integer stands for a
float; a field a type does not define is ignored); neither side handles an event as a bare
dict. Times (`t`, `t_request`, ...) are the worker's `time.monotonic()` seconds; on Linux
that clock is system-wide, but the parent never mixes them with its own clock except where
stated.

Events (worker -> parent):
- ready {pid, engine}: the worker started and built its engine (not loaded yet).
- phase {name, i, model}: a memory mark (`before_load`, `after_load`, `before_infer`,
  `after_infer`, `after_unload`). The worker blocks until the parent acks, so the parent's
  memory sample is taken while the worker is paused at that point. `before_infer` (new in
  version 2) comes right before every `iteration_start`: the parent writes the records
  finished so far while the worker waits there, never while it is inside a request.
  `after_idle` (version 2): with `idle_s` in its config, the worker waits that long after
  its last request and marks again (for that iteration): what memory comes back at rest.
- iteration_start {i, t}: a request is about to be sent to the engine.
- token {i, text, t}: one streamed chunk, stamped the moment it arrived in the worker.
- iteration_done {i, text, tokens, t_request, t_first, t_end, model, load_ms, extra}:
  `text` is the engine's raw output (framing stripped), `extra` engine facts (dict); an
  engine that can break TTFT into phases puts `extra.ttft_phases` {name_ms: ms} there.
- error {kind, message, traceback}: the worker is about to exit because of this.
- done {[notes]}: the worker finished its loop and exits normally. Optional `notes` (list of
  strings): what the worker saw go wrong after the work was measured (an engine program
  that would not exit, say); the parent adds them to the strategy's teardown notes.
Parent -> worker: `ack` (one line per phase event).

Serve mode (version 3, additive): a worker whose config has `serve: true` (orch load) loads
once, then runs one request per `request` line the parent writes on the same pipe as the
acks, and reports each with the events above, keyed by the request's `i` (iteration_start,
token..., iteration_done; no before_infer/after_infer marks: nothing pauses a request under
load). The parent writes a request only to an idle worker (after `after_load`, or after the
last request's iteration_done), so a request line never interleaves with an ack. End of
input (the parent closes the pipe) ends the serving: the worker unloads and sends `done`.
Under `fresh-process` a serving worker runs one request and exits.
Parent -> worker in serve mode: request {i, audio, [prefix], [offset_s]}: `audio` a file path or null;
optional `offset_s` (orch stream): where this audio starts in the stream (the calibration
engine's stream answer depends on it; a real engine hears the audio alone);
optional `prefix` (additive, orch stream): the start of the answer the engine should continue
from. An engine that can take one (`Engine.takes_prefix`) returns the whole answer, prefix
included; the request's iteration_done says in `extra.prefix` whether it was `taken` or
`ignored` (an engine that cannot take one answers from the audio alone).

The worker's configuration (`--config JSON`) is typed the same way: one frozen dataclass,
`WorkerConfig`, carrying `v` like the events, written by `WorkerConfig.to_json()` in the
parent (orchestrator/run/worker_config.py builds it from a plan, for every command) and read
back by `WorkerConfig.from_json(text)` in the worker, which checks each field's JSON type and
refuses a field it does not define (parent and worker are the same version of orch).
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Union

VERSION = 3

PHASES = ("before_load", "after_load", "before_infer", "after_infer", "after_unload", "after_idle")

ACK = b"ack\n"


class ProtocolError(Exception):
    """A malformed or unexpected event; the message names the worker and the event."""


@dataclass(frozen=True)
class Ready:
    TYPE: ClassVar[str] = "ready"
    pid: int
    engine: dict[str, Any]


@dataclass(frozen=True)
class Phase:
    TYPE: ClassVar[str] = "phase"
    name: str
    i: int
    model: str | None


@dataclass(frozen=True)
class IterationStart:
    TYPE: ClassVar[str] = "iteration_start"
    i: int
    t: float


@dataclass(frozen=True)
class Token:
    TYPE: ClassVar[str] = "token"
    i: int
    text: str
    t: float


@dataclass(frozen=True)
class IterationDone:
    TYPE: ClassVar[str] = "iteration_done"
    i: int
    text: str
    tokens: int
    t_request: float
    t_first: float | None
    t_end: float
    model: str | None
    load_ms: float | None
    extra: dict[str, Any]


@dataclass(frozen=True)
class Error:
    TYPE: ClassVar[str] = "error"
    kind: str
    message: str
    traceback: str


@dataclass(frozen=True)
class Done:
    TYPE: ClassVar[str] = "done"
    notes: tuple[str, ...] = field(default=())  # optional on the wire: left out when empty


@dataclass(frozen=True)
class ServeRequest:
    """Parent -> worker (serve mode): run one request on this audio file."""

    TYPE: ClassVar[str] = "request"
    i: int
    audio: str | None
    prefix: str | None = None  # optional on the wire (orch stream): the start of the answer
    offset_s: float | None = None  # optional (orch stream): where the audio starts in the stream


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker is told: its strategy, its engine (the class to build, "module:Class",
    and every option with the defaults filled in: the worker keeps none), the scenario, the
    models, the request's input, and which iterations it runs. `serve`: orch load's serve mode
    (requests come from the parent). `inputs`: one entry per request (`orch transcribe`:
    {"audio", "transcript" or "transcript_file"}), iteration i taking entry i - 1."""

    strategy: str
    engine: str
    engine_class: str
    engine_options: dict[str, Any]
    scenario: str = "asr"
    models: tuple[str | None, ...] = ()
    audio: str | None = None
    transcript: str | None = None
    language: str | None = None
    idle_s: float = 0.0  # seconds to wait after the last request before an `after_idle` mark
    first_i: int = 1
    iters: int = 1
    inputs: tuple[dict[str, Any], ...] = ()
    serve: bool = False

    def to_json(self) -> str:
        fields = {
            f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in dataclasses.fields(self)
        }
        return json.dumps({"v": VERSION, **fields}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        """The config as the parent wrote it; ProtocolError naming what is wrong."""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ProtocolError(f"worker config: not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ProtocolError("worker config: not an object")
        if data.pop("v", None) != VERSION:
            raise ProtocolError(f"worker config: protocol version is not {VERSION}")
        hints = typing.get_type_hints(cls)
        unknown = sorted(set(data) - set(hints))
        if unknown:
            raise ProtocolError(f"worker config: unknown field(s) {', '.join(unknown)}")
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.name not in data]
        if missing:
            raise ProtocolError(f"worker config: lacks {', '.join(missing)}")
        for name, value in data.items():
            if not _fits(hints[name], value):
                raise ProtocolError(f"worker config: {name} is not {_shown_type(hints[name])} ({value!r})")
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**values)


Event = Ready | Phase | IterationStart | Token | IterationDone | Error | Done

EVENT_TYPES: dict[str, type] = {cls.TYPE: cls for cls in typing.get_args(Event)}
# what the parent sends in serve mode (a worker decodes these with `decode(..., PARENT_TYPES)`)
PARENT_TYPES: dict[str, type] = {ServeRequest.TYPE: ServeRequest}
# per type: its fields and their types (the dataclasses' annotations, evaluated once)
_HINTS = {name: typing.get_type_hints(cls) for name, cls in {**EVENT_TYPES, **PARENT_TYPES}.items()}


def required_fields(type_: str) -> tuple[str, ...]:
    """The fields an event of `type_` must carry on the wire (those without a default)."""
    return tuple(
        f.name
        for f in dataclasses.fields({**EVENT_TYPES, **PARENT_TYPES}[type_])
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )


def encode(event: Event | ServeRequest) -> bytes:
    """One event as its line on the wire (JSON, newline-terminated)."""
    fields = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue  # an optional field at its default is not sent (`done` without notes)
        fields[f.name] = list(value) if isinstance(value, tuple) else value
    return (json.dumps({"v": VERSION, "type": event.TYPE, **fields}, ensure_ascii=False) + "\n").encode()


def decode(line: bytes, worker: str, kinds: dict[str, type] = EVENT_TYPES) -> Any:
    """Parse and validate one event line from `worker` (a name used in error messages); the
    worker reads the parent's serve-mode lines with `kinds=PARENT_TYPES`.
    Fields a type does not define are ignored (a newer worker may send more)."""
    shown = line[:200].decode("utf-8", "replace").rstrip()
    try:
        event = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"worker {worker}: malformed event (not JSON: {exc}): {shown!r}") from None
    if not isinstance(event, dict):
        raise ProtocolError(f"worker {worker}: malformed event (not an object): {shown!r}")
    if event.get("v") != VERSION:
        raise ProtocolError(
            f"worker {worker}: event speaks protocol version {event.get('v')!r}, the parent speaks {VERSION}: {shown!r}"
        )
    kind = event.get("type")
    if kind not in kinds:
        raise ProtocolError(f"worker {worker}: unexpected event type {kind!r}: {shown!r}")
    missing = [f for f in required_fields(kind) if f not in event]
    if missing:
        raise ProtocolError(f"worker {worker}: event {kind!r} lacks {', '.join(missing)}: {shown!r}")
    values = {}
    for name, hint in _HINTS[kind].items():
        if name == "TYPE" or name not in event:
            continue
        if not _fits(hint, event[name]):
            raise ProtocolError(
                f"worker {worker}: event {kind!r}: {name} is not {_shown_type(hint)} ({event[name]!r}): {shown!r}"
            )
        values[name] = tuple(event[name]) if isinstance(event[name], list) else event[name]
    if kind == "phase" and values["name"] not in PHASES:
        raise ProtocolError(f"worker {worker}: unknown phase {values['name']!r}: {shown!r}")
    return kinds[kind](**values)


def _fits(hint: Any, value: Any) -> bool:
    """Whether a JSON value fits a field's annotation (an int is a float; a bool is neither)."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_fits(arg, value) for arg in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, (int, float))
    if origin is tuple:  # tuple[str, ...]: a JSON list of strings
        (item, _) = typing.get_args(hint)
        return isinstance(value, list) and all(_fits(item, x) for x in value)
    return isinstance(value, origin or hint)


def _shown_type(hint: Any) -> str:
    if typing.get_origin(hint) is tuple:
        return f"a list of {_shown_type(typing.get_args(hint)[0])}"
    if isinstance(hint, type) and not typing.get_args(hint):
        return hint.__name__
    return str(hint).replace("typing.", "").replace("NoneType", "None")
