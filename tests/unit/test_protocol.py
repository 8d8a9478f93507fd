import json

import pytest
from workers import protocol

# one event of every type, with the fields a worker really sends
EVERY_TYPE = [
    protocol.Ready(pid=4242, engine={"name": "calibration", "model_mb": 16.0}),
    protocol.Phase(name="after_load", i=1, model="tiny-asr-a.bin"),
    protocol.Phase(name="before_infer", i=2, model=None),
    protocol.IterationStart(i=2, t=12.25),
    protocol.Token(i=2, text="你好", t=12.5),
    protocol.IterationDone(
        i=2,
        text="你好",
        tokens=1,
        t_request=12.25,
        t_first=12.5,
        t_end=12.75,
        model=None,
        load_ms=None,
        extra={"ttft_phases": {"prefill_ms": 80.0}, "raw_output": "你好\n"},
    ),
    protocol.IterationDone(
        i=3, text="", tokens=0, t_request=1.0, t_first=None, t_end=2.0, model="m", load_ms=12.5, extra={}
    ),
    protocol.Error(kind="EngineError", message="model gone", traceback="Traceback ..."),
    protocol.Done(),
    protocol.Done(notes=("the engine program did not exit",)),
]


def test_every_type_has_an_example():
    assert {type(e) for e in EVERY_TYPE} == set(protocol.EVENT_TYPES.values())
    assert sorted(protocol.EVENT_TYPES) == sorted(
        ["ready", "phase", "iteration_start", "token", "iteration_done", "error", "done"]
    )


@pytest.mark.parametrize("event", EVERY_TYPE, ids=lambda e: type(e).__name__)
def test_round_trip(event):
    line = protocol.encode(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert protocol.decode(line.rstrip(b"\n"), "w1") == event


def test_the_wire_format_is_version_2s():
    """The same JSON as before events were typed: v, type, then the fields by name."""
    assert json.loads(protocol.encode(protocol.Token(i=3, text="你好", t=1.5))) == {
        "v": 3,
        "type": "token",
        "i": 3,
        "text": "你好",
        "t": 1.5,
    }
    assert protocol.encode(protocol.Token(i=3, text="你好", t=1.5)) == (
        '{"v": 3, "type": "token", "i": 3, "text": "你好", "t": 1.5}\n'.encode()
    )
    assert protocol.VERSION == 3


def test_done_may_carry_teardown_notes():
    """Version 1 stays: `notes` is optional, a worker without it still speaks the protocol."""
    assert protocol.required_fields("done") == ()
    assert protocol.encode(protocol.Done()) == b'{"v": 3, "type": "done"}\n'
    ev = protocol.decode(b'{"v": 3, "type": "done", "notes": ["the engine program did not exit"]}', "w#1")
    assert ev == protocol.Done(notes=("the engine program did not exit",))
    assert protocol.decode(b'{"v": 3, "type": "done"}', "w#1") == protocol.Done()


def test_fields_a_type_does_not_define_are_ignored():
    ev = protocol.decode(b'{"v": 3, "type": "iteration_start", "i": 1, "t": 2, "cpu": 7}', "w#1")
    assert ev == protocol.IterationStart(i=1, t=2)


def test_an_integer_stands_for_a_float_but_a_bool_for_nothing():
    assert protocol.decode(b'{"v": 3, "type": "token", "i": 1, "text": "a", "t": 3}', "w").t == 3
    with pytest.raises(protocol.ProtocolError, match="i is not int"):
        protocol.decode(b'{"v": 3, "type": "token", "i": true, "text": "a", "t": 3}', "w")


def test_events_are_frozen():
    with pytest.raises(AttributeError):
        protocol.Token(i=1, text="a", t=1.0).i = 2


@pytest.mark.parametrize(
    "line, words",
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"v": 99, "type": "done"}', "protocol version 99"),
        (b'{"v": 3, "type": "dance"}', "unexpected event type 'dance'"),
        (b'{"v": 3, "type": "token", "i": 1}', "lacks text, t"),
        (b'{"v": 3, "type": "phase", "name": "after_lunch", "i": 1, "model": null}', "unknown phase"),
        (b'{"v": 3, "type": "token", "i": "1", "text": "a", "t": 1.0}', "event 'token': i is not int ('1')"),
        (b'{"v": 3, "type": "phase", "name": "after_load", "i": 1, "model": 5}', "model is not str | None (5)"),
        (b'{"v": 3, "type": "ready", "pid": 1, "engine": []}', "engine is not dict[str, Any] ([])"),
        (b'{"v": 3, "type": "done", "notes": "x"}', "notes is not a list of str ('x')"),
        (
            b'{"v": 3, "type": "iteration_done", "i": 1, "text": "a", "tokens": 1, "t_request": 1.0, '
            b'"t_first": "soon", "t_end": 2.0, "model": null, "load_ms": null, "extra": {}}',
            "t_first is not float | None ('soon')",
        ),
    ],
)
def test_bad_events_name_worker_and_event(line, words):
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.decode(line, "restart#1")
    assert str(err.value).startswith("worker restart#1: ")
    assert words in str(err.value)


def test_a_serve_request_round_trips_and_is_only_a_parent_message():
    req = protocol.ServeRequest(i=7, audio="/a.wav")
    line = protocol.encode(req)
    assert line == b'{"v": 3, "type": "request", "i": 7, "audio": "/a.wav"}\n'
    assert protocol.decode(line, "parent", protocol.PARENT_TYPES) == req
    with pytest.raises(protocol.ProtocolError, match="unexpected event type 'request'"):
        protocol.decode(line, "w#1")  # a worker never sends one


def test_the_worker_splits_an_ack_and_a_request_read_together():
    import os

    from workers.channel import Channel

    ev_r, ev_w = os.pipe()
    ack_r, ack_w = os.pipe()
    os.write(ack_w, protocol.ACK + protocol.encode(protocol.ServeRequest(i=1, audio=None)))
    os.close(ack_w)
    ch = Channel(ev_w, ack_r)
    ch.phase("after_load", 0)  # reads the ack alone
    assert ch.next_request() == protocol.ServeRequest(i=1, audio=None)
    assert ch.next_request() is None  # the parent closed the pipe
    for fd in (ev_r, ev_w, ack_r):
        os.close(fd)


def test_load_offers_the_strategies_a_worker_can_serve():
    from orchestrator.commands.load import SERVE_STRATEGIES
    from workers import serve

    assert SERVE_STRATEGIES == serve.SERVE_STRATEGIES
