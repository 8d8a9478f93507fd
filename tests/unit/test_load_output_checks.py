"""load.output_checks on exact records: drift under load (TEST01) and the caching verdict (TEST04)."""

import wave

from orchestrator.load import output_checks as oc
from orchestrator.load.levels import RequestRecord


def rec(i, level, audio, text, ttft_s=0.05, status="ok"):
    return RequestRecord(
        i=i, level=level, warmup=False, audio=audio, audio_s=1.0, scheduled=float(i), sent=float(i),
        status=status, dispatched=float(i), t_request=float(i), t_first=i + ttft_s, t_end=i + 0.1, text=text,
    )  # fmt: skip


def test_drift_counts_texts_other_than_the_audio_alone():
    records = [rec(1, oc.REFERENCE_LEVEL, "a.wav", "hello"), rec(2, oc.REFERENCE_LEVEL, "b.wav", "world")]
    records += [rec(3, 0, "a.wav", "hello"), rec(4, 0, "b.wav", "world!"), rec(5, 0, "a.wav", "hullo")]
    records += [rec(6, 0, "a.wav", "", status="failed"), rec(7, 1, "a.wav", "hello")]
    refs = oc.references(records)
    assert refs == {"a.wav": "hello", "b.wav": "world"}
    check = oc.drift_under_load(records, 0, refs)
    assert (check["compared"], check["drifted"]) == (3, 2)
    assert [e["i"] for e in check["examples"]] == [4, 5]
    assert oc.drift_under_load(records, 1, refs)["drifted"] == 0


def test_caching_verdict_needs_eight_a_side_and_a_faster_repeat():
    few = [rec(i, oc.REPEATED_LEVEL, "a.wav", "x") for i in range(5)]
    assert oc.caching_verdict(few)["caching"] is None
    fast = [rec(i, oc.REPEATED_LEVEL, "a.wav", "x", ttft_s=0.01 + i * 1e-4) for i in range(11)]
    slow = [rec(100 + i, oc.DISTINCT_LEVEL, f"c{i}.wav", "x", ttft_s=0.05 + i * 1e-4) for i in range(10)]
    assert oc.caching_verdict(fast + slow)["caching"] is True
    same = [rec(i, oc.REPEATED_LEVEL, "a.wav", "x", ttft_s=0.05 + (i % 3) * 1e-3) for i in range(11)]
    assert oc.caching_verdict(same + slow)["caching"] is False


def test_distinct_clips_differ_by_ten_ms_of_silence(tmp_path):
    src = tmp_path / "s.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\x01\x00" * 16000)
    clips = oc.distinct_clips(str(src), 3, tmp_path / "clips")
    assert [round(s, 3) for _, s in clips] == [1.01, 1.02, 1.03]
    assert len({open(p, "rb").read() for p, _ in clips}) == 3
