"""`orch stream`: live audio fed in chunks to one long-lived engine worker, paced in real
time (compute-aware) or --unpaced (compute-unaware, the lower bound), under a policy
(redecode, window, vad); the text shown as it comes and the figures a live caption needs
(docs/streaming.md). The worker is started from the run plan as `orch run` starts one.

Exit codes: 0 the stream ran, 1 the worker failed, 2 could not start (bad option, missing
input), 130 Ctrl-C (the updates so far, the JSONL events and the result JSON are kept).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestrator.commands import startup_problems
from orchestrator.commands.options import engine_option_decorators
from orchestrator.commands.startup_problems import option
from orchestrator.errors import CannotStart, ExitCode, OrchError
from orchestrator.run.plan import ENGINES, RunPlan

POLICIES = ("redecode", "window", "vad")
SAMPLES = Path(__file__).resolve().parents[2] / "samples"
DEFAULT = RunPlan(strategies=[])


def _decorate(f):
    for deco in reversed(
        [
            option("--engine", type=click.Choice(ENGINES), default=DEFAULT.engine, show_default=True),
            option("--model", help="Model file (chatllm), folder (transformers) or label NAME[:MB] (calibration)."),
            option("--language", help="Language to ask for (e.g. English, Chinese)."),
            option("--audio", metavar="FILE|DIR", help="A 16 kHz mono WAV, or a folder of them played in name order."),
            option("--build-minutes", type=float, help="Instead of --audio: a stream this long built from --samples."),
            option("--samples", metavar="DIR", default=str(SAMPLES), help="The WAV files --build-minutes repeats."),
            option("--pause-s", type=float, default=1.5, show_default=True, help="Silence between files."),
            option("--policy", type=click.Choice(POLICIES), default="redecode", show_default=True),
            option(
                "--chunk-s", type=float, default=2.0, show_default=True, help="Audio per chunk (an update per chunk)."
            ),
            option(
                "--unfixed-tokens", type=int, default=5, show_default=True, help="redecode/window: tokens rolled back."
            ),
            option(
                "--window-s", type=float, default=30.0, show_default=True, help="window: seconds of audio per update."
            ),
            option("--max-prefix-tokens", type=int, default=150, show_default=True, help="window: the prefix's bound."),
            option(
                "--vad",
                type=click.Choice(["auto", "silero", "energy"]),
                default="auto",
                show_default=True,
                help="vad: Silero (the silero-vad package) or orch's energy detector; auto: Silero if installed.",
            ),
            option("--unpaced", is_flag=True, help="As fast as the engine goes (compute-unaware lower bound)."),
            option("--no-whole", is_flag=True, help="Skip transcribing the stream whole (no streaming penalty)."),
            option("--jsonl", metavar="FILE", help="Write every event as a JSON line (flushed per line)."),
            option("--json", "json_path", metavar="FILE", help="Also write the result JSON here."),
            option("--html", metavar="FILE", help="Write an HTML plot of the lag over the stream."),
            option("--out", default=str(DEFAULT.out_dir), show_default=True, help="Folder for the run's folder."),
            option(
                "--request-timeout",
                type=float,
                default=DEFAULT.iter_timeout,
                show_default=True,
                help="Seconds one update may take before the worker is taken for hung.",
            ),
            option(
                "--sample-hz",
                type=float,
                default=DEFAULT.sample_hz,
                show_default=True,
                help="How often the worker's memory is read from /proc.",
            ),
            option(
                "--max-rss-mb",
                type=float,
                help="Kill the worker over this RSS + swap (default: a share of the memory available; 0: no guard).",
            ),
        ]  # fmt: skip
        + engine_option_decorators()
    ):
        f = deco(f)
    return f


def _numbers(kw, problems: list[str]) -> None:
    for name in ("chunk_s", "window_s", "request_timeout", "build_minutes"):
        if kw[name] is not None and not kw[name] > 0:
            problems.append(f"--{name.replace('_', '-')} must be > 0 (got {kw[name]:g})")
    for name in ("unfixed_tokens", "max_prefix_tokens"):
        if kw[name] < 0:
            problems.append(f"--{name.replace('_', '-')} must be >= 0 (got {kw[name]})")
    if kw["pause_s"] < 0:
        problems.append(f"--pause-s must be >= 0 (got {kw['pause_s']:g})")
    if (kw["audio"] is None) == (kw["build_minutes"] is None):
        problems.append("give --audio FILE|DIR or --build-minutes N (one of them)")


@click.command()
@_decorate
def stream(**kw):
    """Feed audio to one engine worker chunk by chunk, as a live speaker would, and measure
    how soon and how stably the text follows."""
    from orchestrator.stream import source
    from orchestrator.stream.session import StreamSettings

    problems = startup_problems.take()
    _numbers(kw, problems)
    audio = None
    try:
        if kw["audio"] is not None:
            audio, what = source.from_files(source.wav_files(kw["audio"]), kw["pause_s"]), {"source": kw["audio"]}
        elif kw["build_minutes"] is not None and kw["build_minutes"] > 0:
            audio = source.build(kw["samples"], kw["build_minutes"], kw["pause_s"])
            what = {"source": f"built from {kw['samples']}", "minutes": kw["build_minutes"]}
    except source.SourceError as exc:
        problems.append(str(exc))
    plan = _plan(kw, audio, problems)
    if problems or plan is None or audio is None:
        raise CannotStart(problems or ["no audio"])
    settings = StreamSettings(
        policy=kw["policy"], chunk_s=kw["chunk_s"], unfixed_tokens=kw["unfixed_tokens"], window_s=kw["window_s"],
        max_prefix_tokens=kw["max_prefix_tokens"], vad=kw["vad"], paced=not kw["unpaced"],
        whole=not kw["no_whole"], jsonl=kw["jsonl"], live=sys.stdout.isatty(),
    )  # fmt: skip
    _run(plan, audio, {**what, "pause_s": kw["pause_s"]}, settings, kw["html"])


def _plan(kw, audio, problems: list[str]):
    """The run plan (strategy restart, one long-lived worker) as `orch run` builds one, its
    audio the whole stream written into the run's folder."""
    from orchestrator.commands.run_inputs import option_flag
    from orchestrator.engines import fields
    from orchestrator.engines import registry as engine_registry
    from orchestrator.run.plan_inputs import PlanInputs
    from orchestrator.run.preflight import preflight
    from orchestrator.stream.source import write_wav

    spec = engine_registry.REGISTRY.get(kw["engine"])
    options = fields.from_cli(spec.options, kw) if spec else {}
    out = Path(kw["out"])
    if out.exists() and not out.is_dir():
        problems.append(f"--out {out} is a file, not a folder")
        return None
    plan, notes = RunPlan.build(
        PlanInputs(
            strategies=["restart"],
            iters=1,
            warmup=0,
            engine=kw["engine"],
            models=[kw["model"]] if kw["model"] else [],
            language=kw["language"],
            out_dir=out,
            iter_timeout=kw["request_timeout"],
            sample_hz=kw["sample_hz"],
            json_path=Path(kw["json_path"]) if kw["json_path"] else None,
            engine_options=options,
            max_rss_mb=kw["max_rss_mb"],
        )  # fmt: skip
    )
    if audio is not None:
        plan.run_dir.mkdir(parents=True, exist_ok=True)
        write_wav(plan.run_dir / "stream.wav", audio.samples, audio.rate)
        plan.audio = str(plan.run_dir / "stream.wav")
    problems += preflight(plan, label=option_flag)
    for note in notes:
        click.echo(f"note: {note}", err=True)
    return plan


def _run(plan, audio, what, settings, html) -> None:
    from orchestrator.stream.session import run_stream
    from orchestrator.stream.worker import StreamWorkerError

    try:
        result = run_stream(plan, audio, what, settings)
    except StreamWorkerError as exc:
        raise OrchError(str(exc), ExitCode.FAILED) from None
    if html:
        from orchestrator.stream.plot import write_html

        write_html(result, html)
    click.echo(_summary(result))
    click.echo(f"result: {plan.run_dir / 'stream.json'}")
    if result["error"]:
        raise OrchError(
            f"{result['error']} (after {len(result['updates'])} updates; result: {plan.run_dir / 'stream.json'})",
            ExitCode.FAILED,
        )
    if result["interrupted"]:
        click.get_current_context().exit(ExitCode.INTERRUPTED)


def _summary(result: dict) -> str:
    f, st = result["figures"], result["stream"]
    fb = f["fall_behind"]
    rows = [
        f"policy {st['policy']} ({st['method']}), {st['simulation']}, chunk {st['chunk_s']:g} s, {st['audio_s']:.1f} s of audio",
        f"first text: {_s(f['first_text_s'])} after the first speech",
        f"updates: {f['updates']}, compute median {_s(f['compute_s']['median'])}, lag median {_s(f['lag_s']['median'])} p90 {_s(f['lag_s']['p90'])}",
        f"committed-text latency (by audio position): median {_s(f['committed_latency_s']['median'])} p90 {_s(f['committed_latency_s']['p90'])}",
        f"finalization (speaker stops -> committed): median {_s(f['finalization_s']['median'])} over {f['finalization_s']['spans']} spans",
        f"revisions: {f['revisions']['chars_changed']} characters of shown text changed ({f['revisions']['final_chars']} in the final text)",
        "kept up with real time for the whole stream" if fb["kept_up"] else f"fell behind real time at {fb['at_s']:.1f} s of the stream (update {fb['update']}) and stayed behind",
    ]  # fmt: skip
    if st.get("note"):
        rows.append(f"note: {st['note']}")
    if result.get("penalty"):
        p = result["penalty"]
        rows.append(
            f"streaming penalty: {p['mode']} {p['rate']:.4f} against the whole-file text (identical: {p['identical']})"
        )
    mem = result["memory"]
    if "rss_peak_mb" in mem:
        rows.append(
            f"worker memory: RSS {mem['rss_start_mb']:.1f} -> {mem['rss_end_mb']:.1f} MB, peak {mem['rss_peak_mb']:.1f}, slope {mem['rss_slope_mb_per_min']:+.3f} MB/min "
            f"({mem['rss_slope_second_half_mb_per_min']:+.3f} over its second half)"
        )
    return "\n".join(rows)


def _s(value) -> str:
    return "-" if value is None else f"{value:.2f} s"
