"""One stream end to end: the policy, the worker (from the plan's worker config), the paced
or unpaced loop, the display and events, the whole-file decode for the streaming penalty,
the figures, and the result JSON (`<run dir>/stream.json`, and the plan's --json path)."""

from __future__ import annotations

import datetime as _dt
import sys
import time
from dataclasses import dataclass
from typing import IO

from orchestrator.results.atomic import write_json_atomic
from orchestrator.run import hostinfo, worker_config, worker_env
from orchestrator.run.plan import RunPlan
from orchestrator.stream import figures, pacing, policies, vad
from orchestrator.stream.display import Events, Live
from orchestrator.stream.source import StreamAudio, write_wav
from orchestrator.stream.worker import StreamWorker, StreamWorkerError

VERSION = 1
FALL_BEHIND_TOLERANCE = 0.05  # of a chunk: an update this late or less still kept up


@dataclass
class StreamSettings:
    policy: str = "redecode"
    chunk_s: float = 2.0
    unfixed_tokens: int = 5
    window_s: float = 30.0
    max_prefix_tokens: int = 150
    vad: str = "auto"  # silero | energy | auto
    paced: bool = True
    whole: bool = True  # also transcribe the stream whole (the streaming penalty)
    jsonl: str | None = None
    live: bool = False


def make_policy(s: StreamSettings, audio: StreamAudio):
    if s.policy == "redecode":
        return policies.Redecode(s.unfixed_tokens)
    if s.policy == "window":
        return policies.Redecode(s.unfixed_tokens, s.window_s, s.max_prefix_tokens)
    return policies.VadPolicy(vad.Segmenter(vad.detector(s.vad)), audio.samples, audio.rate)


def run_stream(plan: RunPlan, audio: StreamAudio, source: dict, s: StreamSettings, out: IO[str] = sys.stdout) -> dict:
    """Stream `audio` (written whole at plan.audio) through one worker; the result. Ctrl-C
    stops the stream: the result so far is written and returned with `interrupted: true`;
    a worker that fails mid-stream too, with its `error`. StreamWorkerError if it never
    started."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    policy = make_policy(s, audio)
    env = worker_env.build(plan.worker_env)
    worker = StreamWorker(
        worker_config.build(plan, "restart", serve=True), plan.run_dir / "worker.log", env.environ, plan.sample_hz,
        plan.iter_timeout, plan.max_rss_mb,
    )  # fmt: skip
    events, live = Events(s.jsonl), Live(out) if s.live else None
    updates: list[pacing.Update] = []
    window_wav = str(plan.run_dir / "update.wav")
    result: dict = {"kind": "orch-stream", "version": VERSION, "run_id": plan.run_id, "started_at": _now()}

    def answer(k: int, ask: policies.Ask) -> policies.Reply:
        write_wav(window_wav, audio.cut(ask.start_s, ask.end_s), audio.rate)
        got = worker.ask(k, window_wav, ask.prefix, ask.start_s)
        return policies.Reply(got.text, got.prefix)

    def on_update(u: pacing.Update) -> None:
        updates.append(u)
        events.write("update", **u.as_dict())
        if live:
            live.show(u.committed, u.tentative, _status(u, audio.seconds, s))

    try:
        worker.start()
        events.write(
            "start", run_id=plan.run_id, policy=policy.name, paced=s.paced, chunk_s=s.chunk_s, audio_s=audio.seconds
        )
        t0 = time.monotonic()
        result.update(_loop(worker, plan, policy, audio, s, answer, on_update, len(updates)))
    finally:
        worker.kill()
    result.update(_describe(plan, worker, audio, source, s, policy))
    t1 = result.pop("t_stream_end") or time.monotonic()
    result.update(_figures(updates, audio, s, worker.sampler.samples, (t0, t1), result.pop("whole_answer")))
    result["updates"] = [u.as_dict() for u in updates]
    fb = result["figures"]["fall_behind"]
    events.write("end", interrupted=result["interrupted"], error=result["error"], text=result["text"], fall_behind=fb)
    events.close()
    _save(plan, result)
    return result


def _loop(worker, plan, policy, audio, s, answer, on_update, done) -> dict:
    """The stream, then the whole-file decode; how it ended (interrupted, error) and notes."""
    out: dict = {"interrupted": False, "error": None, "whole_answer": None, "t_stream_end": None}
    count = [done]

    def counted(u):
        count[0] += 1
        on_update(u)

    try:
        pacing.run(policy, audio.seconds, s.chunk_s, answer, s.paced, counted)
        out["t_stream_end"] = time.monotonic()
        if s.whole:
            out["whole_answer"] = _whole(worker, plan, count[0] + 1)
    except KeyboardInterrupt:
        out["interrupted"] = True
    except StreamWorkerError as exc:
        out["error"] = str(exc)
    out["notes"] = worker.stop() if out["error"] is None else []
    return out


def _whole(worker: StreamWorker, plan: RunPlan, k: int) -> dict:
    t = time.monotonic()
    got = worker.ask(k, str(plan.audio), None)
    return {"text": got.text, "compute_s": round(time.monotonic() - t, 4)}


def _describe(plan, worker, audio, source, s, policy) -> dict:
    return {
        "host": hostinfo.host_facts(),
        "engine": {"name": plan.engine, "options": plan.engine_options.describe(), "worker": worker.engine_info},
        "plan": plan.describe(audio.seconds),
        "stream": {
            **source,
            "audio_s": round(audio.seconds, 3),
            "speech_spans": len(audio.spans),
            "chunk_s": s.chunk_s,
            "paced": s.paced,
            "simulation": "compute-aware (real time)" if s.paced else "compute-unaware (lower bound)",
            **policy.describe(),
            "text_latency_by": "audio position (not by word)",
        },
        "load_s": round(worker.load_s, 3) if worker.load_s else None,
    }


def _figures(updates, audio: StreamAudio, s: StreamSettings, samples, span: tuple, whole: dict | None) -> dict:
    arrivals = [u.arrival_s for u in updates]
    if s.paced:
        starts = [u.start_s for u in updates]
    else:  # the measured compute times on the paced timeline: where a live feed would fall behind
        starts = [a for a, _ in figures.replay(arrivals, [u.compute_s for u in updates])]
    speech_start = audio.spans[0][0] if audio.spans else 0.0
    text = (updates[-1].committed + updates[-1].tentative) if updates else ""
    fb = figures.fall_behind(arrivals, starts, FALL_BEHIND_TOLERANCE * s.chunk_s)
    fb["from"] = "measured" if s.paced else "replayed on the paced timeline from the measured compute times"
    return {
        "text": text,
        "figures": {
            "first_text_s": figures.first_text(updates, speech_start),
            **figures.per_update(updates),
            "committed_latency_s": figures.committed_latency(updates, audio.spans),
            "finalization_s": figures.finalization(updates, audio.spans),
            "revisions": figures.revisions(updates),
            "fall_behind": fb,
        },
        "memory": figures.memory(samples, *span),
        "whole": whole,
        "penalty": figures.penalty(text, whole["text"]) if whole else None,
    }


def _status(u: pacing.Update, total_s: float, s: StreamSettings) -> str:
    return (
        f"update {u.k}  audio {u.arrival_s:6.1f}/{total_s:.1f} s  compute {u.compute_s:5.2f} s  "
        f"lag {u.lag_s:5.2f} s  {'paced' if s.paced else 'unpaced'} {s.policy}"
    )


def _save(plan: RunPlan, result: dict) -> None:
    write_json_atomic(plan.run_dir / "stream.json", result)
    if plan.json_path:
        write_json_atomic(plan.json_path, result)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
