"""Put an engine x strategy under load as a small service and measure what its users see.

N long-lived workers pull requests from one queue; requests arrive at a rate (constant,
poisson, gamma) or a concurrency. Per level: latency percentiles, throughput, goodput under
an SLO, saturation, memory per 1000 requests (docs/load.md). Every request is written to
<out>/load-<time>/requests.jsonl as it ends.

The target is worker processes (an engine x strategy), or with --url a server's OpenAI-style
/v1/audio/transcriptions on this host (--serve-cmd starts it, --pid samples one running).

The result (`<run dir>/load.json`, and `--json PATH`) is stored in the history database as
`orch run` stores its runs (`--db`, `--no-history`; docs/history.md).

Exit codes: 0 every request ok, 1 a request failed or timed out (or the pool's memory guard
stopped it), 2 could not start (bad option, missing input, a server that did not answer),
130 Ctrl-C (every finished request is written first, and the result JSON with
`interrupted: true`, stored too).
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from orchestrator.commands import startup_problems
from orchestrator.commands.run import engine_option_decorators
from orchestrator.commands.startup_problems import option
from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart, ExitCode, OrchError

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
SERVE_STRATEGIES = ("restart", "fresh-process")  # workers/serve.py's
# what applies to a server target (--url); any other option given with it is an error
URL_OPTIONS = {
    "url", "serve_cmd", "pid", "connections", "serve_timeout", "model", "audio", "audio_list", "language",
    "rate", "rates", "concurrency", "sweep", "sweep_levels", "arrival", "burstiness", "requests", "duration",
    "warmup_requests", "slo", "seed", "request_timeout", "max_queue", "max_lateness_ms", "sample_hz",
    "max_rss_mb", "json_path", "out", "db", "no_history",
}  # fmt: skip


def _floats(text: str, what: str, problems: list[str]) -> list[float]:
    out = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            problems.append(f"{what}: {part!r} is not a number")
            continue
        if not value > 0:
            problems.append(f"{what}: {part} must be > 0")
        out.append(value)
    return out


def _audio_files(given: str | None, problems: list[str]) -> list[tuple[str | None, float | None]]:
    from orchestrator.run.audio import AudioError, audio_seconds

    if not given:
        return [(None, None)]
    path = Path(given)
    files = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES) if path.is_dir() else [given]
    if not files:
        problems.append(f"--audio {given}: a folder with no audio files ({', '.join(AUDIO_SUFFIXES)})")
    out: list[tuple[str | None, float | None]] = []
    for f in files:
        try:
            out.append((f, audio_seconds(f)))
        except AudioError as exc:
            problems.append(f"--audio: {exc}")
    return out


def _audio_list(given: str, problems: list[str]) -> tuple[list[tuple[str | None, float | None]], list[float]]:
    """The weighted list's files with their seconds, and their weights; a bad line is a problem."""
    from orchestrator.errors import OrchError, read_text_file
    from orchestrator.load import audio_list
    from orchestrator.run.audio import AudioError, audio_seconds

    try:
        entries = audio_list.parse(read_text_file(given, "--audio-list"), Path(given).parent)
    except OrchError as exc:
        problems.append(exc.message)
        return [], []
    except ValueError as exc:
        problems.append(f"--audio-list {given} {exc}")
        return [], []
    out: list[tuple[str | None, float | None]] = []
    for _, path in entries:
        try:
            out.append((path, audio_seconds(path)))
        except AudioError as exc:
            problems.append(f"--audio-list {given}: {exc}")
    return out, [w for w, _ in entries]


def _table(result) -> str:
    head = (
        f"{'level':<27} {'sent':>5} {'ok':>5} {'fail':>4} {'t/o':>4} {'drop':>4} {'canc':>4} {'req/s':>6} "
        f"{'good/s':>6} {'wait p50':>8} {'ttft p50':>8} {'ttft p99':>8} {'lat p99':>8} {'rtf p99':>7} "
        f"{'late p99':>8}  saturated"
    )
    rows = [head]

    def ms(p, attr="p50"):
        return f"{getattr(p, attr):8.1f}" if p else f"{'-':>8}"

    for lv in result.levels:
        lat = lv.latencies
        good = f"{lv.goodput_rps:6.2f}" if lv.goodput_rps is not None else f"{'-':>6}"
        rtf = f"{lat.rtf.p99:7.3f}" if lat.rtf else f"{'-':>7}"
        sat = "yes" if lv.saturation.saturated else "no"
        valid = "" if lv.valid else f"  INVALID: {lv.invalid_reason}"
        rows.append(
            f"{lv.arrivals:<27} {lv.sent:>5} {lv.ok:>5} {lv.failed:>4} {lv.timed_out:>4} {lv.dropped:>4} "
            f"{lv.cancelled:>4} {lv.throughput_rps:6.2f} {good} {ms(lat.queue_wait_ms)} {ms(lat.ttft_ms)} "
            f"{ms(lat.ttft_ms, 'p99')} {ms(lat.latency_ms, 'p99')} {rtf} {ms(lv.lateness_ms, 'p99')}  "
            f"{sat}{valid}"
        )
        for m in lv.memory:
            rows.append(
                f"  memory {m.who}: {m.mb_per_1000:+.2f} MB per 1000 requests "
                f"(95% CI {m.ci[0]:+.2f}..{m.ci[1]:+.2f}; {m.requests} requests, {m.samples} samples)"
            )
        audio_s = (lv.audio_s_per_s or 0.0) * lv.duration_s
        if lv.cpu_s is not None and audio_s > 0:  # CPU cost (results.figures: core_h_per_audio_h)
            rows.append(
                f"  cpu: {lv.cpu_s:.2f} s of the workers' CPU for {audio_s:.1f} s of audio: "
                f"{lv.cpu_s / audio_s:.3f} core-h/audio-h"
            )
        if lv.saturation.saturated:
            rows.append(f"  saturated: {lv.saturation.why}")
        if lv.stopped_early:
            rows.append(f"  stopped early: {lv.stopped_early}")
        if lv.streamed is not None:
            rows.append(f"  streamed answers: {lv.streamed} of {lv.ok}")
    return "\n".join(rows)


def _decorate(f):
    for deco in reversed(
        [
            option("--engine", type=click.Choice(("calibration", "chatllm")), default="calibration", show_default=True),
            option("--model", help="Model file (chatllm) or label NAME[:MB] (calibration)."),
            option("--audio", metavar="FILE|DIR", help="Audio file, or a folder: each request picks one (seeded)."),
            option(
                "--audio-list",
                metavar="FILE",
                help="Weighted audio mix: one 'WEIGHT PATH' a line (paths relative to the list's folder).",
            ),
            option("--language", help="Language to ask for (chatllm: e.g. Chinese, English)."),
            option(
                "--strategy",
                type=click.Choice(SERVE_STRATEGIES),
                default="restart",
                show_default=True,
                help="restart: long-lived workers; fresh-process: a new process per request.",
            ),
            option("--workers", type=int, default=1, show_default=True, help="Worker processes (each its own engine)."),
            option("--rate", type=float, help="Open loop: requests per second."),
            option("--rates", help="Open loop, one level per rate: a,b,c (requests per second)."),
            option("--concurrency", type=int, help="Closed loop: requests kept in flight."),
            option(
                "--sweep",
                is_flag=True,
                help="Synchronous, then max throughput, then rates between; a level stops once over-saturated.",
            ),
            option("--sweep-levels", type=int, default=10, show_default=True, help="Levels of --sweep, both ends in."),
            option(
                "--arrival", type=click.Choice(("constant", "poisson", "gamma")), default="poisson", show_default=True
            ),
            option("--burstiness", type=float, default=1.0, show_default=True, help="gamma's shape (1: poisson)."),
            option("--requests", type=int, help="Requests per level (default 100 unless --duration)."),
            option("--duration", type=float, help="Seconds per level (instead of --requests)."),
            option("--warmup-requests", type=int, default=0, show_default=True, help="Unmeasured requests first."),
            option("--slo", help="Goodput bounds, e.g. ttft_ms=1000,rtf=0.5 (also latency_ms, itl_ms, queue_wait_ms)."),
            option("--seed", type=int, default=0, show_default=True, help="Arrival times and audio choice."),
            option("--request-timeout", type=float, default=120.0, show_default=True, help="Seconds per request."),
            option("--max-queue", type=int, default=10_000, show_default=True, help="Queue bound; over it: dropped."),
            option(
                "--max-lateness-ms",
                type=float,
                default=10.0,
                show_default=True,
                help="A level whose generator was later than this at p99 is marked invalid.",
            ),
            option("--sample-hz", type=float, default=10.0, show_default=True, help="Memory sampling per worker."),
            option("--max-rss-mb", type=float, help="Memory guard over the pool (sum of every worker tree)."),
            option("--json", "json_path", metavar="PATH", help="Write the result JSON here too."),
            option("--out", metavar="DIR", default="orch-results", show_default=True, help="Folder for the run."),
            option("--db", help="History database (SQLite path or postgresql:// URL)."),
            option("--no-history", is_flag=True, help="Do not store the run in the history database."),
            option(
                "--url",
                metavar="URL",
                help="A server as the target: http://127.0.0.1:PORT/v1/audio/transcriptions (loopback only).",
            ),
            option(
                "--serve-cmd",
                metavar="CMD",
                help="With --url: start this server (own process group), stop it at the end.",
            ),
            option("--pid", type=int, help="With --url: sample this running server's process tree (left running)."),
            option(
                "--connections", type=int, help="With --url: requests in flight at the server at once [default: 1]."
            ),
            option(
                "--serve-timeout",
                type=float,
                default=300.0,
                show_default=True,
                help="With --serve-cmd: seconds the server may take to answer.",
            ),
            *engine_option_decorators(),
        ]
    ):
        f = deco(f)
    return f


@click.command("load")
@_decorate
def load(**kw):
    """Put an engine x strategy under load as a small service and measure what its users see."""
    from orchestrator.engines import options as eo
    from orchestrator.load.arrivals import ClosedLoop, OpenLoop
    from orchestrator.load.levels import Slo
    from orchestrator.load.sweep import Sweep

    problems = startup_problems.take()
    modes = [k for k in ("rate", "rates", "concurrency") if kw[k] is not None] + (["sweep"] if kw["sweep"] else [])
    if len(modes) != 1:
        problems.append("give one of --rate, --rates, --concurrency, --sweep")
    if kw["requests"] is not None and kw["duration"] is not None:
        problems.append("give --requests or --duration, not both")
    count = kw["requests"] if kw["requests"] is not None else (None if kw["duration"] is not None else 100)
    for name in ("workers", "requests", "concurrency", "max_queue", "connections"):
        if kw[name] is not None and kw[name] < 1:
            problems.append(f"--{name.replace('_', '-')} must be >= 1 (got {kw[name]})")
    for name in ("duration", "burstiness", "request_timeout", "max_lateness_ms", "max_rss_mb", "serve_timeout"):
        if kw[name] is not None and not kw[name] > 0:
            problems.append(f"--{name.replace('_', '-')} must be > 0 (got {kw[name]:g})")
    if (kw["warmup_requests"] or 0) < 0:
        problems.append("--warmup-requests must be >= 0")
    rates = []
    if kw["rate"] is not None:
        rates = _floats(str(kw["rate"]), "--rate", problems)
    elif kw["rates"]:
        rates = _floats(kw["rates"], "--rates", problems)
    levels: list = []
    try:
        if kw["concurrency"] is not None and kw["concurrency"] >= 1:
            levels = [ClosedLoop(kw["concurrency"])]
        elif rates and all(r > 0 for r in rates):
            # each level its own draw (seed + level): one bursty draw would skew every level alike
            levels = [
                OpenLoop(kw["arrival"], r, kw["burstiness"] or 1.0, (kw["seed"] or 0) + k) for k, r in enumerate(rates)
            ]
    except ValueError as exc:
        problems.append(str(exc))
    ctx = click.get_current_context()
    given = {n for n in kw if ctx.get_parameter_source(n) == click.core.ParameterSource.COMMANDLINE}
    if "sweep_levels" in given and not kw["sweep"]:
        problems.append("--sweep-levels goes with --sweep")
    sweep = None
    if kw["sweep"]:
        try:
            servers = (kw["connections"] or 1) if kw["url"] else kw["workers"]
            sweep = Sweep(
                kw["sweep_levels"], max(servers or 1, 1), kw["arrival"], kw["burstiness"] or 1.0, kw["seed"] or 0
            )
        except ValueError as exc:
            problems.append(str(exc))
    try:
        slo = Slo.parse(kw["slo"])
    except ValueError as exc:
        problems.append(f"--slo: {exc}")
        slo = Slo()
    if kw["audio"] and kw["audio_list"]:
        problems.append("give --audio or --audio-list, not both")
    if kw["url"]:
        return _server_load(kw, problems, levels, sweep, count, slo)
    for name in ("serve_cmd", "pid", "connections", "serve_timeout"):
        if kw[name] is not None and (name != "serve_timeout" or name in given):
            problems.append(f"--{name.replace('_', '-')} goes with --url")
    engine = kw["engine"] or "calibration"
    spec = engine_registry.REGISTRY.get(engine)
    options = fields.from_cli(spec.options, kw) if spec else {}  # as `orch run` reads them
    if engine == "chatllm":
        from orchestrator.engines.chatllm.paths import resolve

        paths = resolve(options.pop("chatllm_dir", None), options.pop("main", None), options.pop("lib", None))
        options.update(chatllm_dir=paths.root, main=paths.main, lib=paths.lib)
        if kw["language"]:
            options["language"] = kw["language"]
        else:  # Qwen3-ASR may answer `language None` and no text without one
            problems.append("--engine chatllm needs --language (e.g. English, Chinese)")
        if not kw["model"]:
            problems.append("--engine chatllm needs --model FILE")
        elif not Path(kw["model"]).is_file():
            problems.append(f"--model {kw['model']}: no such file")
        elif options.get("max_new_tokens") is None:
            from orchestrator.engines.chatllm.model_file import TEST_MODEL_MAX_NEW_TOKENS
            from orchestrator.engines.chatllm.plan import any_test_model

            if any_test_model([kw["model"]]):  # as `orch run` does: random weights rarely end on their own
                options["max_new_tokens"] = TEST_MODEL_MAX_NEW_TOKENS
                click.echo(
                    f"note: test model (random weights): --max-new-tokens defaults to {TEST_MODEL_MAX_NEW_TOKENS}"
                )
    try:
        engine_options = eo.from_mapping(engine, options)
        problems += engine_options.problems()
    except CannotStart as exc:
        problems += exc.problems
        engine_options = None
    audio, weights = _audio_files(kw["audio"], problems), None
    if kw["audio_list"]:
        audio, weights = _audio_list(kw["audio_list"], problems)
    if engine == "chatllm" and audio == [(None, None)]:
        problems.append("--engine chatllm needs --audio FILE|DIR or --audio-list FILE")
    problems += _output_problems(kw)
    if problems:
        raise CannotStart(problems)
    assert engine_options is not None
    worker_config = {
        "strategy": kw["strategy"],
        "engine": engine,
        "engine_class": engine_registry.get(engine).worker,
        "engine_options": engine_options.to_worker(),
        "models": [kw["model"]] if kw["model"] else [None],
        "transcript": None,
        "language": kw["language"],
    }
    _run(kw, worker_config, kw["workers"], None, levels, sweep, count, audio, weights, slo)


def _output_problems(kw) -> list[str]:
    """Where the results go: --out a folder, --json a file, the history database's folder there."""
    problems = []
    out = Path(kw["out"])
    if out.exists() and not out.is_dir():
        problems.append(f"--out {out} is a file, not a folder")
    if kw["json_path"] and Path(kw["json_path"]).is_dir():
        problems.append(f"--json {kw['json_path']} is a folder, not a file")
    if not kw["no_history"]:
        from orchestrator.history.store import db_problem  # lazy: SQLAlchemy; --help must not import it

        why = db_problem(kw["db"], write=True)
        if why:
            problems.append(f"{why}; or pass --no-history")
    return problems


def _keep(run_dir: Path, kw, started_at: str):
    """The run as kept (load.record.keep: run_id, times, host; --json), stored in the history
    unless --no-history; a database problem is a warning, as for `orch run`."""
    from orchestrator.history.save import store_load_history
    from orchestrator.load import record

    run = record.keep(run_dir, started_at, Path(kw["json_path"]) if kw["json_path"] else None)
    if run is not None and not kw["no_history"]:
        store_load_history(run, kw["db"])
    return run


def _server_load(kw, problems: list[str], levels, sweep, count, slo) -> None:
    """`--url`: the checks of a server target, then the run."""
    from orchestrator.load.http_target import MAX_SERVER_REQUESTS, ServerTarget

    ctx = click.get_current_context()
    for param in ctx.command.params:
        name = param.name or ""
        if name not in URL_OPTIONS and ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE:
            problems.append(f"{param.opts[0]} does not apply to --url (the server runs its own engine)")
    try:
        host, port, path = ServerTarget.split_url(kw["url"])
    except ValueError as exc:  # refused at once, alone: orch sends nothing off this host
        raise CannotStart(str(exc)) from None
    if kw["serve_cmd"] is not None and kw["pid"] is not None:
        problems.append("give --serve-cmd or --pid, not both")
    serve_cmd = None
    if kw["serve_cmd"] is not None:
        try:
            serve_cmd = tuple(shlex.split(kw["serve_cmd"]))
        except ValueError as exc:
            problems.append(f"--serve-cmd: {exc}")
        if serve_cmd == ():
            problems.append("--serve-cmd is empty")
    if kw["pid"] is not None and kw["pid"] < 1:
        problems.append(f"--pid must be >= 1 (got {kw['pid']})")
    if not kw["model"]:
        problems.append("--url needs --model NAME (the model the server is asked for)")
    audio: list[tuple[str | None, float | None]] = []
    weights = None
    if kw["audio_list"]:
        audio, weights = _audio_list(kw["audio_list"], problems)
    elif kw["audio"]:
        audio = _audio_files(kw["audio"], problems)
    else:
        problems.append("--url needs --audio FILE|DIR or --audio-list FILE")
    problems += _output_problems(kw)
    n_levels = sweep.levels if sweep else len(levels) or 1
    if count is not None and n_levels * (count + (kw["warmup_requests"] or 0)) > MAX_SERVER_REQUESTS:
        problems.append(
            f"{n_levels} level(s) x {count + (kw['warmup_requests'] or 0)} requests is over the "
            f"{MAX_SERVER_REQUESTS} a run may send a server"
        )
    if problems:
        raise CannotStart(problems)
    target = ServerTarget(
        url=kw["url"],
        host=host,
        port=port,
        path=path,
        model=kw["model"],
        language=kw["language"],
        serve_cmd=serve_cmd,
        pid=kw["pid"],
        connections=kw["connections"] or 1,
        serve_timeout=kw["serve_timeout"],
    )
    worker_config = {"engine": "server", "strategy": None, "models": [kw["model"]], "language": kw["language"]}
    _run(kw, worker_config, target.connections, target, levels, sweep, count, audio, weights, slo)


def _run(kw, worker_config, workers, server, levels, sweep, count, audio, weights, slo) -> None:
    import datetime

    from orchestrator.load import record
    from orchestrator.load.http_target import MAX_SERVER_REQUESTS
    from orchestrator.load.pool import PoolConfig, StartFailed
    from orchestrator.load.runner import LoadPlan, execute

    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    run_dir = Path(kw["out"]) / f"load-{stamp}"
    plan = LoadPlan(
        pool=PoolConfig(
            worker_config=worker_config,
            workers=workers,
            log_dir=run_dir,
            request_timeout=kw["request_timeout"],
            sample_hz=kw["sample_hz"],
            max_rss_mb=kw["max_rss_mb"],
            max_queue=kw["max_queue"],
            max_requests=MAX_SERVER_REQUESTS if server else None,
        ),
        levels=levels,
        count=count,
        duration=kw["duration"],
        warmup=kw["warmup_requests"],
        audio=audio,
        slo=slo,
        max_lateness_ms=kw["max_lateness_ms"],
        seed=kw["seed"],
        run_dir=run_dir,
        json_path=run_dir / record.RESULT_FILE,  # read back, kept and copied to --json by _keep
        audio_weights=weights,
        sweep=sweep,
        server=server,
    )
    if server:
        how = "started by orch" if server.serve_cmd else f"pid {server.pid}" if server.pid else "not sampled"
        what = f"{server.url} ({how}) x {workers} connection(s)"
    else:
        what = f"{worker_config['engine']} x {kw['strategy']} x {workers} worker(s)"
    click.echo(f"orch load: {what}; requests in {run_dir}")

    def progress(rec) -> None:
        if sys.stdout.isatty():
            click.echo(f"\r  request {rec.i} {rec.status}   ", nl=False)

    started_at = record.now_iso()
    try:
        result = execute(plan, on_record=progress)
    except StartFailed as exc:
        raise OrchError(f"cannot start: {exc}") from None
    except KeyboardInterrupt:
        click.echo(f"\norch load: interrupted; every finished request is in {run_dir / 'requests.jsonl'}", err=True)
        _keep(run_dir, kw, started_at)
        raise
    kept = _keep(run_dir, kw, started_at)
    click.echo(_table(result))
    if kept is not None:
        click.echo(f"run {kept.run_id}: {run_dir / record.RESULT_FILE}")
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.error:
        click.echo(f"orch: {result.error}", err=True)
    bad = result.error or any(lv.failed or lv.timed_out for lv in result.levels)
    sys.exit(ExitCode.FAILED if bad else ExitCode.OK)
