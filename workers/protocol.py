"""The worker protocol, version 2: the only contract between a worker and the parent.

Transport: two pipes given to the worker at start (`--event-fd`, `--ack-fd`). The worker
writes one JSON object per line to the event pipe; the parent writes one line `ack` to the
ack pipe for every `phase` event. The worker's stdout and stderr are free for the engine to
print on (the parent keeps them in a log file), so an engine that prints cannot corrupt the
protocol.

Every event carries `v` (the protocol version) and `type`; the fields each type must carry
are in EVENT_FIELDS. Times (`t`, `t_request`, ...) are the worker's `time.monotonic()`
seconds; on Linux that clock is system-wide, but the parent never mixes them with its own
clock except where stated.

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
"""

from __future__ import annotations

import json

VERSION = 2

PHASES = ("before_load", "after_load", "before_infer", "after_infer", "after_unload", "after_idle")

EVENT_FIELDS = {
    "ready": ("pid", "engine"),
    "phase": ("name", "i", "model"),
    "iteration_start": ("i", "t"),
    "token": ("i", "text", "t"),
    "iteration_done": ("i", "text", "tokens", "t_request", "t_first", "t_end", "model", "load_ms", "extra"),
    "error": ("kind", "message", "traceback"),
    "done": (),
}

ACK = b"ack\n"


class ProtocolError(Exception):
    """A malformed or unexpected event; the message names the worker and the event."""


def encode(type_: str, **fields) -> bytes:
    missing = [f for f in EVENT_FIELDS[type_] if f not in fields]
    if missing:
        raise ValueError(f"event {type_!r} lacks {missing}")
    return (json.dumps({"v": VERSION, "type": type_, **fields}, ensure_ascii=False) + "\n").encode()


def decode(line: bytes, worker: str) -> dict:
    """Parse and validate one event line from `worker` (a name used in error messages)."""
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
    if kind not in EVENT_FIELDS:
        raise ProtocolError(f"worker {worker}: unexpected event type {kind!r}: {shown!r}")
    missing = [f for f in EVENT_FIELDS[kind] if f not in event]
    if missing:
        raise ProtocolError(f"worker {worker}: event {kind!r} lacks {', '.join(missing)}: {shown!r}")
    if kind == "phase" and event["name"] not in PHASES:
        raise ProtocolError(f"worker {worker}: unknown phase {event['name']!r}: {shown!r}")
    return event
