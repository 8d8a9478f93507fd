"""`orch transcribe`'s parts without a worker: the framing filter on streamed chunks, the
worker's request per input (config `inputs`), the records' JSON, the summary lines."""

from __future__ import annotations

from dataclasses import replace

import pytest
from orchestrator.results.transcript import FAILED, OK, FileTranscript, TranscribeSummary
from orchestrator.results.transcript_view import StreamedText, figures, interrupted_line, summary_line
from workers.loop import Session
from workers.protocol import WorkerConfig


def _shown(chunks: list[str]) -> str:
    s = StreamedText()
    return "".join(s.feed(c) for c in chunks) + s.rest()


@pytest.mark.parametrize(
    "chunks, shown",
    [
        (["language", " Chinese", "<asr_text>", "開放", "時間"], "開放時間"),
        (["language Chinese<asr_text>開", "放"], "開放"),
        (["lang", "uage English<asr_", "text>And", " so"], "And so"),
        (["calibration", " stream"], "calibration stream"),  # no framing: shown as it comes
        (["la", "ter", " on"], "later on"),  # a prefix of "language " that turns out not to be
        (["()})\n", "()})"], "()})\n()})"),
        (["language"], "language"),  # held to the end, then shown: it was the text
    ],
)
def test_framing_is_held_back_and_the_text_shown(chunks, shown):
    assert _shown(chunks) == shown


def test_no_framing_is_shown_chunk_by_chunk():
    s = StreamedText()
    assert [s.feed(c) for c in ["calibration", " stream", " one"]] == ["calibration", " stream", " one"]


def test_a_worker_with_inputs_takes_one_per_request(tmp_path):
    words = tmp_path / "2.txt"
    words.write_text(" hello world \n", encoding="utf-8")
    base = WorkerConfig(strategy="restart", engine="calibration", engine_class="m:C", engine_options={})
    config = replace(
        base,
        language="English",
        inputs=(
            {"audio": "a.wav", "transcript_file": str(tmp_path / "1.txt")},
            {"audio": "b.wav", "transcript_file": str(words)},
        ),
    )
    session = Session(channel=None, engine=None, config=config)  # type: ignore[arg-type]
    req = session.request_for(2)
    assert (req.i, req.audio, req.transcript, req.language) == (2, "b.wav", "hello world", "English")
    plain = Session(channel=None, engine=None, config=replace(base, audio="x.wav"))  # type: ignore[arg-type]
    assert (plain.request_for(7).audio, plain.request_for(7).transcript) == ("x.wav", None)


def _record(index: int, status: str = OK, **kw) -> FileTranscript:
    base = dict(file=f"/d/f{index}.wav", status=status, audio_s=2.0, language=None, text_raw="a", text="a")
    return FileTranscript(index=index, **{**base, **kw})


def test_record_json_and_key():
    rec = _record(3, ttft_ms=12.0, rtf=0.5, latency_ms=1000.0, tokens=4, cer=0.25, reference="/d/f3.txt")
    assert rec.key == (3, None)
    assert rec.to_json() == {
        "index": 3,
        "file": "/d/f3.wav",
        "status": "ok",
        "audio_s": 2.0,
        "language": None,
        "text_raw": "a",
        "text": "a",
        "ttft_ms": 12.0,
        "latency_ms": 1000.0,
        "rtf": 0.5,
        "tokens": 4,
        "load_ms": None,
        "reference": "/d/f3.txt",
        "cer": 0.25,
        "wer": None,
        "srt": None,
        "alignment_violations": None,
        "error": None,
    }
    assert figures(rec) == "TTFT 12 ms · RTF 0.500 · CER 0.250 (against f3.txt)"


def test_summary_and_interrupted_lines():
    summary = TranscribeSummary(total=3, records=[_record(1, latency_ms=500.0), _record(2, FAILED, error="x")])
    assert summary_line(summary) == "2 files, 4.0 s of audio in 0.5 s (RTF 0.125); 1 failed: f2.wav"
    assert interrupted_line(summary, ["o.jsonl"]) == (
        "interrupted (Ctrl-C): 2 of 3 files done (f1.wav, f2.wav); their records are in o.jsonl"
    )
    assert interrupted_line(TranscribeSummary(total=2), []) == "interrupted (Ctrl-C): 0 of 2 files done"
