import pytest
from workers import protocol


def test_roundtrip():
    line = protocol.encode("token", i=3, text="你好", t=1.5)
    ev = protocol.decode(line.rstrip(b"\n"), "w1")
    assert ev == {"v": protocol.VERSION, "type": "token", "i": 3, "text": "你好", "t": 1.5}


def test_encode_refuses_missing_fields():
    with pytest.raises(ValueError):
        protocol.encode("phase", name="after_load")


@pytest.mark.parametrize(
    "line, words",
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"v": 99, "type": "done"}', "protocol version 99"),
        (b'{"v": 2, "type": "dance"}', "unexpected event type 'dance'"),
        (b'{"v": 2, "type": "token", "i": 1}', "lacks text, t"),
        (b'{"v": 2, "type": "phase", "name": "after_lunch", "i": 1, "model": null}', "unknown phase"),
    ],
)
def test_bad_events_name_worker_and_event(line, words):
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.decode(line, "restart#1")
    assert "worker restart#1" in str(err.value)
    assert words in str(err.value)


def test_done_may_carry_teardown_notes():
    """Version 1 stays: `notes` is optional, a worker without it still speaks the protocol."""
    assert "notes" not in protocol.EVENT_FIELDS["done"]
    ev = protocol.decode(protocol.encode("done", notes=["the engine program did not exit"]), "w#1")
    assert ev["notes"] == ["the engine program did not exit"]
    assert protocol.decode(protocol.encode("done"), "w#1")["type"] == "done"
