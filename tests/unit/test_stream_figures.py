"""orch stream's figures and policies as pure functions (docs/streaming.md)."""

from types import SimpleNamespace

import numpy as np
import pytest
from orchestrator.stream import figures, pacing, policies, units
from orchestrator.stream.display import Events
from orchestrator.stream.source import RATE, from_files, speech_bounds, write_wav
from orchestrator.stream.vad import EnergyDetector, Segmenter


def upd(end, committed, tentative="", arrival=None, start=None, compute=0.1, audio_end=None):
    arrival = end - compute if arrival is None else arrival
    return pacing.Update(
        1, arrival, arrival if start is None else start, end, compute, 0.0,
        arrival if audio_end is None else audio_end, None, None, committed, tentative, False,
    )  # fmt: skip


def test_units_split_words_and_cjk_and_join_back():
    assert units.split("ask not what") == ["ask", " not", " what"]
    assert units.split("開放 9點") == ["開", "放", " 9", "點"]
    for text in ("ask not what", "開放時間 早上9點", " lead", "a  b "):
        assert "".join(units.split(text)) == text
    assert units.drop_last("a b c d", 2) == "a b"
    assert units.drop_last("a b", 5) == ""
    assert units.common_prefix("a b c", "a b x") == "a b"


def test_replay_queues_an_update_behind_the_previous():
    assert figures.replay([1, 2, 3], [0.5, 1.5, 0.2]) == [(1, 1.5), (2, 3.5), (3.5, 3.7)]


def test_fall_behind_is_the_start_of_the_last_late_run_or_kept_up():
    arrivals = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert figures.fall_behind(arrivals, [1.0, 2.3, 3.0, 4.4, 5.9], 0.05)["at_s"] == 4.0
    assert figures.fall_behind(arrivals, [1.0, 2.3, 3.0, 4.4, 5.9], 0.05)["update"] == 4
    kept = figures.fall_behind(arrivals, [1.0, 2.01, 3.0, 4.02, 5.0], 0.05)
    assert kept["kept_up"] and kept["at_s"] is None
    assert figures.fall_behind(arrivals, [1.0, 2.0, 3.0, 4.0, 5.5], 0.05)["kept_up"]  # the last one alone
    assert figures.fall_behind([1.0], [1.5], 0.05)["at_s"] == 1.0  # a one-update stream: that one


def test_committed_latency_by_audio_position():
    ups = [
        upd(1.2, "", "one two", audio_end=1.0),
        upd(2.3, "one two", "three", audio_end=2.0),  # commits what update 1 showed: audio up to 1 s
        upd(3.1, "one two three four", "", audio_end=3.0),
    ]
    assert figures.committed_positions(ups) == [0.0, 1.0, 3.0]
    lat = figures.committed_latency(ups, [(0.0, 3.0, "x")], grid_s=1.0)
    # t=1 committed at 2.3 (1.3 s); t=2 and t=3 at 3.1 (1.1 s, 0.1 s)
    assert lat["n"] == 3 and lat["never"] == 0
    assert lat["max"] == pytest.approx(1.3)
    fin = figures.finalization(ups, [(0.0, 3.0, "x")])
    assert fin["median"] == pytest.approx(0.1)


def test_revisions_count_shown_characters_later_changed():
    ups = [upd(1, "", "ab"), upd(2, "", "axy"), upd(3, "axy", "")]
    assert figures.revisions(ups)["chars_changed"] == 1  # the "b"
    assert figures.revisions([upd(1, "", "ab"), upd(2, "ab", "c")])["chars_changed"] == 0


def test_first_text_from_the_first_speech():
    assert figures.first_text([upd(1.1, "", ""), upd(2.4, "", "hi")], 0.5) == pytest.approx(1.9)
    assert figures.first_text([upd(1.1, "", "")], 0.0) is None


def test_penalty_is_zero_for_the_same_text_and_counts_a_difference():
    assert figures.penalty("ask not what", "ask not what") == {"mode": "wer", "rate": 0.0, "identical": True}
    assert figures.penalty("ask what", "ask not what")["rate"] > 0


def test_memory_slope_over_the_stream():
    samples = [SimpleNamespace(t=10.0 + k, rss_mb=100.0 + k / 60) for k in range(120)]
    mem = figures.memory(samples, 10.0)
    assert mem["rss_slope_mb_per_min"] == pytest.approx(1.0, abs=1e-6)
    assert mem["rss_peak_mb"] > mem["rss_start_mb"]
    assert figures.memory(samples, 10.0, 70.0)["samples"] == 61  # the stream, not what follows
    warm = [SimpleNamespace(t=float(k), rss_mb=100.0 + min(k, 30)) for k in range(120)]  # levels off at 30 s
    assert figures.memory(warm, 0.0)["rss_slope_mb_per_min"] > 0
    assert figures.memory(warm, 0.0)["rss_slope_second_half_mb_per_min"] == 0


def test_redecode_sends_the_previous_text_minus_k_tokens_after_two_chunks():
    p = policies.Redecode(unfixed=2)
    texts = ["a b", "a b c d", "a b c d e f"]
    sent = []
    for k, text in enumerate(texts):
        (ask,) = p.asks(float(k + 1), final=False)
        sent.append(ask.prefix)
        shown = p.take(ask, policies.Reply(text, "taken" if ask.prefix else None))
    assert sent == [None, None, "a b"]
    assert shown.committed == "a b" and shown.tentative == " c d e f"
    (last,) = p.asks(4.0, final=True)
    assert last.prefix == "a b c d"
    assert p.take(last, policies.Reply("a b c d e f g", "taken")) == policies.Shown("a b c d e f g", "")


def test_redecode_without_a_start_of_the_answer_falls_back_to_local_agreement():
    p = policies.Redecode(unfixed=2)
    for k, text in enumerate(["a", "a b", "a b c x", "a b c d y"]):
        (ask,) = p.asks(float(k + 1), final=False)
        shown = p.take(ask, policies.Reply(text, "ignored" if ask.prefix else None))
    assert p.method == policies.LOCAL_AGREEMENT and "LocalAgreement-2" in p.describe()["note"]
    assert shown.committed == "a b c" and shown.tentative == " d y"
    (ask,) = p.asks(5.0, final=False)
    assert ask.prefix is None  # no start of the answer once the engine refused one


def test_window_bounds_the_prefix_and_keeps_the_text_before_it():
    p = policies.Redecode(unfixed=1, window_s=2.0, max_prefix=1)
    replies = {1: "a", 2: "a b", 3: "a c d", 4: "c e"}  # update 4 continues its one-token prefix "c"
    asks = []
    for k in range(1, 5):
        (ask,) = p.asks(float(k), final=False)
        asks.append(ask)
        shown = p.take(ask, policies.Reply(replies[k], "taken" if ask.prefix else None))
    assert [(a.start_s, a.prefix) for a in asks] == [(0.0, None), (0.0, None), (1.0, "a"), (2.0, "c")]
    assert shown == policies.Shown("a c", " e")  # the text before the bounded prefix kept


def test_window_stitch_keeps_only_what_follows_the_committed_tail():
    assert policies.stitch("one two three four", "three four five six") == "five six"
    assert policies.stitch("one two", "seven eight") == "seven eight"


def test_vad_segments_at_pauses_with_the_energy_detector():
    rng = np.random.default_rng(0)
    tone = (rng.standard_normal(RATE) * 3000).astype(np.int16)  # 1 s of loud noise
    quiet = np.zeros(RATE, dtype=np.int16)
    audio = np.concatenate([quiet, tone, quiet, tone, quiet])
    seg = Segmenter(EnergyDetector())
    spans = []
    for k in range(0, len(audio), RATE // 2):
        spans += seg.feed(audio[k : k + RATE // 2])
    spans += seg.flush()
    assert len(spans) == 2
    assert spans[0][0] == pytest.approx(0.9, abs=0.1) and spans[1][1] == pytest.approx(4.1, abs=0.1)


def test_pacing_unpaced_counts_each_update_from_its_audio(monkeypatch):
    p = policies.Redecode(unfixed=1)
    now = [0.0]
    got = []

    def answer(k, ask):
        now[0] += 0.3 * k  # compute grows with the stream
        return policies.Reply(" ".join(["w"] * k))

    pacing.run(p, 3.5, 1.0, answer, False, got.append, clock=lambda: now[0], sleep=lambda s: None)
    assert [u.arrival_s for u in got] == [1.0, 2.0, 3.0, 3.5]
    assert [round(u.lag_s, 3) for u in got] == [0.3, 0.6, 0.9, 1.2]
    assert got[-1].final and got[-1].tentative == ""


def test_pacing_paced_waits_for_the_audio_and_for_the_previous_update():
    p = policies.Redecode(unfixed=1)
    now = [0.0]
    got = []

    def sleep(s):
        now[0] += s

    def answer(k, ask):
        now[0] += 1.5 if k == 2 else 0.2
        return policies.Reply("w")

    pacing.run(p, 4.0, 1.0, answer, True, got.append, clock=lambda: now[0], sleep=sleep)
    assert [round(u.start_s, 3) for u in got] == [1.0, 2.0, 3.5, 4.0]  # update 3 waited for update 2


def test_events_are_written_once_each_and_flushed(tmp_path):
    path = tmp_path / "ev.jsonl"
    ev = Events(str(path))
    ev.write("start", a=1)
    assert path.read_text().count("\n") == 1  # flushed before close
    ev.write("update", k=1)
    ev.close()
    assert [line.split('"event": ')[1][:8] for line in path.read_text().splitlines()] == ['"start",', '"update"']


def test_a_folder_is_played_with_pauses_and_its_spans_kept(tmp_path):
    for name, secs in (("a.wav", 1.0), ("b.wav", 2.0)):
        write_wav(tmp_path / name, np.ones(int(secs * RATE), dtype=np.int16))
    audio = from_files(sorted(tmp_path.iterdir()), 0.5)
    assert audio.seconds == pytest.approx(3.5)
    assert [(round(a, 3), round(b, 3)) for a, b, _ in audio.spans] == [(0.0, 1.0), (1.5, 3.5)]


def test_a_files_span_leaves_out_its_leading_and_trailing_silence():
    loud = (np.random.default_rng(1).standard_normal(RATE) * 3000).astype(np.int16)
    samples = np.concatenate([np.zeros(RATE // 2, dtype=np.int16), loud, np.zeros(RATE, dtype=np.int16)])
    assert speech_bounds(samples) == (0.5, 1.5)
    assert speech_bounds(np.zeros(RATE, dtype=np.int16)) == (0.0, 1.0)


def test_the_html_page_draws_one_point_per_update(tmp_path):
    from orchestrator.stream.plot import write_html

    ups = [upd(1.2, "", "a", arrival=1.0).as_dict(), upd(2.5, "a", "", arrival=2.0).as_dict()]
    result = {
        "run_id": "r",
        "stream": {"policy": "redecode", "simulation": "paced", "chunk_s": 1.0},
        "updates": ups,
        "figures": {},
    }
    write_html(result, tmp_path / "p.html")
    page = (tmp_path / "p.html").read_text()
    points = page.split('<polyline points="')[1].split('"')[0].split()
    assert len(points) == 2 and "lag behind real time" in page


def test_committed_position_is_read_between_two_updates_by_characters():
    ups = [
        upd(1.1, "", "", audio_end=1.0),
        upd(2.1, "", "abcdefghij", audio_end=2.0),  # 10 characters over the second second
        upd(3.1, "abcde", "fghij", audio_end=3.0),
    ]
    assert figures.committed_positions(ups) == [1.0, 1.0, 1.5]


def test_silero_cuts_jfk_at_its_pauses(shared):
    pytest.importorskip("silero_vad", reason="the stream extra's silero-vad is not installed")
    from orchestrator.stream.source import read_wav
    from orchestrator.stream.vad import SileroDetector

    samples = read_wav(shared / "samples" / "jfk.wav")
    det = SileroDetector()
    seg = Segmenter(det)
    spans = seg.feed(samples) + seg.flush()
    assert det.name.startswith("silero-vad")
    assert len(spans) >= 2 and spans[0][0] < 1.0 and spans[-1][1] > 9.0  # "And so, my fellow Americans, ..."
