"""The self-test's stream checks (`orch selftest`): the calibration engine streams with a
cost model (encode time per second of audio so far, time per token), so when `redecode`
falls behind real time is known before it runs. Checks: the measured fall-behind point
(paced, compute-aware) within one chunk of the predicted one; and the unpaced simulation
(compute-unaware, the lower bound) never later than the paced one, update by update."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from orchestrator.results.checks import Check, progress_lines
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs
from orchestrator.stream import figures, pacing
from orchestrator.stream.session import FALL_BEHIND_TOLERANCE, StreamSettings, run_stream
from orchestrator.stream.source import RATE, StreamAudio, write_wav

CHUNK_S, AUDIO_S, UNFIXED = 1.0, 12.0, 5
# the cost model: falls behind at update 7 (its compute 0.02 + 0.15 x 7 + 6 tokens x 5 ms > 1 s)
COST = {"ttft_ms": 20.0, "token_ms": 5.0, "encode_ms_per_s": 150.0, "audio_tokens_per_s": 2.0}
SLACK_S = 0.1 * CHUNK_S  # timing noise allowed when comparing two runs' lags


def predicted_computes(ends: list[float], cost: dict = COST, unfixed: int = UNFIXED) -> list[float]:
    """Each redecode update's compute time under the calibration cost model: the encode of
    all audio so far, then the tokens past the start of the answer (none for 2 chunks)."""
    out, previous = [], 0
    for k, end in enumerate(ends, start=1):
        n = int(end * cost["audio_tokens_per_s"] + 1e-9)
        new = n if k <= 2 else n - max(0, previous - unfixed)
        out.append((cost["ttft_ms"] + cost["encode_ms_per_s"] * end + cost["token_ms"] * max(0, new - 1)) / 1000)
        previous = n
    return out


def predicted_fall_behind(ends: list[float]) -> dict:
    starts = [s for s, _ in figures.replay(ends, predicted_computes(ends))]
    return figures.fall_behind(ends, starts, FALL_BEHIND_TOLERANCE * CHUNK_S)


def _plan(out_dir: Path, audio: StreamAudio) -> RunPlan:
    plan, _notes = RunPlan.build(
        PlanInputs(
            strategies=["restart"],
            iters=1,
            warmup=0,
            engine="calibration",
            engine_options=COST,
            out_dir=out_dir,
            max_rss_mb=0,
        )  # fmt: skip
    )
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    write_wav(plan.run_dir / "stream.wav", audio.samples)
    plan.audio = str(plan.run_dir / "stream.wav")
    return plan


def stream_checks(out_dir: Path, echo=print) -> list[Check]:
    audio = StreamAudio(np.zeros(int(AUDIO_S * RATE), dtype=np.int16), [(0.0, AUDIO_S, "silence")])
    runs = {}
    for paced in (True, False):
        settings = StreamSettings(policy="redecode", chunk_s=CHUNK_S, unfixed_tokens=UNFIXED, paced=paced, whole=False)
        runs[paced] = run_stream(_plan(out_dir, audio), audio, {"source": "selftest silence"}, settings)
    expected = predicted_fall_behind(pacing.chunk_ends(AUDIO_S, CHUNK_S))
    got = runs[True]["figures"]["fall_behind"]
    ok = not got["kept_up"] and not expected["kept_up"] and abs(got["at_s"] - expected["at_s"]) <= CHUNK_S
    found = [
        Check("stream redecode (paced): fall-behind point", f"{expected['at_s']} s (cost model)", got["at_s"], ok,
              f"within one chunk ({CHUNK_S:g} s); measured {'kept up' if got['kept_up'] else 'update ' + str(got['update'])}"),
        _lower_bound_check(runs[True]["updates"], runs[False]["updates"]),
    ]  # fmt: skip
    for line in progress_lines("stream", found):
        echo(line)
    return found


def _lower_bound_check(paced: list[dict], unpaced: list[dict]) -> Check:
    """The compute-unaware lag of every update at most the compute-aware one (+ SLACK_S)."""
    worst = max((u["lag_s"] - p["lag_s"] for p, u in zip(paced, unpaced, strict=False)), default=None)
    ok = len(paced) == len(unpaced) > 0 and worst is not None and worst <= SLACK_S
    return Check(
        "stream redecode: unpaced lag never later than paced",
        f"<= paced + {SLACK_S:g} s",
        worst,
        ok,
        f"{len(unpaced)} unpaced vs {len(paced)} paced updates; largest unpaced - paced lag {worst}",
    )
