"""`orch load`'s options and what they make, shared by `orch load` and `orch ab --load` (each
side's options): the option declarations (`decorate`, and `parser()` to read a side's words
with them), the plan from what they say (`plan_from`: worker processes through
LoadPlan.build, or a server with --url), and the table of a run's levels."""

from __future__ import annotations

import datetime
import shlex
from pathlib import Path

import click

from orchestrator.commands.options import ENGINE_HELP, ENGINES_MODEL_HELP, MODEL_HELP, engine_option_decorators
from orchestrator.commands.run_inputs import refuse_unusable_history
from orchestrator.commands.startup_problems import option
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import CannotStart
from orchestrator.load.length import DEFAULT_MIN_REQUESTS

SERVE_STRATEGIES = ("restart", "fresh-process")  # workers/serve.py's
# what applies to a server target (--url); any other option given with it is an error
URL_OPTIONS = {
    "url", "serve_cmd", "pid", "connections", "serve_timeout", "model", "audio", "audio_list", "language",
    "rate", "rates", "concurrency", "sweep", "sweep_levels", "arrival", "burstiness", "requests", "duration",
    "min_requests", "min_duration",
    "warmup_requests", "slo", "seed", "request_timeout", "max_queue", "max_lateness_ms", "sample_hz",
    "max_rss_mb", "json_path", "out", "db", "no_history", "check_outputs", "check_caching",
}  # fmt: skip
URL_ONLY = ("serve_cmd", "pid", "connections", "serve_timeout")


LANGUAGE_HELP = (
    "Language to ask for (e.g. Chinese, English; default: guessed from the audio files' references and names, "
    "as `orch run` does: docs/quality.md)."
)


def _claims(lv) -> list[str]:
    """What the level's count supports (results.early_stopping): a p99 it cannot show is a '-'
    in the table and said here; the SLO claim, held or how many more requests it needs."""
    from orchestrator.results import early_stopping

    out = []
    n = lv.latencies.latency_ms.n if lv.latencies.latency_ms else 0
    short = [
        f"p{q} needs ≥ {early_stopping.min_requests(q / 100)}"
        for q in (90, 99)
        if n < early_stopping.min_requests(q / 100)
    ]
    if short:
        out.append(f"  percentiles: n={n}; {', '.join(short)} (early stopping, 99% confidence): not shown")
    if lv.floor and not lv.floor["met"]:  # ended short of --min-requests/--min-duration (load.length)
        out.append(f"  {lv.floor['why']}")
    if lv.slo_claim:
        out.append(f"  SLO: {lv.slo_claim['why']}")
    check = lv.drift_under_load
    if check and check["drifted"]:
        first = check["examples"][0]
        out.append(
            f"  DRIFT under load: {check['drifted']} of {check['compared']} texts differ from the same audio "
            f"alone (request {first['i']}: {first['got'][:40]!r} for {first['expected'][:40]!r})"
        )
    elif check:
        out.append(f"  outputs: {check['compared']} texts as the same audio gives alone")
    return out


def language(given: str | None, audio, problems: list[str]) -> str | None:
    """--language, else the per-file guess `orch run` and `transcribe` make (docs/quality.md),
    said in a note; a serving worker loads its model in one language, so files that guess
    differently are a problem naming them."""
    from orchestrator.quality import pipeline

    if given or not any(path for path, _ in audio):
        return given
    guesses = {path: pipeline.file_language(None, path, None) for path, _ in audio if path}
    languages = sorted({lang for lang, _ in guesses.values()})
    if len(languages) > 1:
        each = "; ".join(
            f"{lang}: {', '.join(Path(p).name for p, (lg, _) in guesses.items() if lg == lang)}" for lang in languages
        )
        problems.append(
            f"--language not given and the audio files are in different languages ({each}): give --language"
        )
        return None
    path, (guessed, why) = next(iter(guesses.items()))
    click.echo(f"note: --language not given: {guessed} ({why})" + (" for every file" if len(guesses) > 1 else ""))
    return guessed


def table(result) -> str:
    """The levels of a run, one row each, with their memory, saturation and notes under them."""
    from orchestrator.results.load_run import growth_text

    head = (
        f"{'level':<27} {'sent':>5} {'ok':>5} {'fail':>4} {'t/o':>4} {'drop':>4} {'canc':>4} {'req/s':>6} "
        f"{'good/s':>6} {'wait p50':>8} {'ttft p50':>8} {'ttft p99':>8} {'lat p99':>8} {'rtf p99':>7} "
        f"{'late p99':>8}  saturated"
    )
    rows = [head]

    def ms(p, attr="p50"):
        value = getattr(p, attr) if p else None
        return f"{value:8.1f}" if value is not None else f"{'-':>8}"

    for lv in result.levels:
        lat = lv.latencies
        good = f"{lv.goodput_rps:6.2f}" if lv.goodput_rps is not None else f"{'-':>6}"
        rtf = f"{lat.rtf.p99:7.3f}" if lat.rtf and lat.rtf.p99 is not None else f"{'-':>7}"
        sat = "yes" if lv.saturation.saturated else "no"
        valid = "" if lv.valid else f"  INVALID: {lv.invalid_reason}"
        rows.append(
            f"{lv.arrivals:<27} {lv.sent:>5} {lv.ok:>5} {lv.failed:>4} {lv.timed_out:>4} {lv.dropped:>4} "
            f"{lv.cancelled:>4} {lv.throughput_rps:6.2f} {good} {ms(lat.queue_wait_ms)} {ms(lat.ttft_ms)} "
            f"{ms(lat.ttft_ms, 'p99')} {ms(lat.latency_ms, 'p99')} {rtf} {ms(lv.lateness_ms, 'p99')}  "
            f"{sat}{valid}"
        )
        for m in lv.memory:
            rows.append(f"  memory {m.who}: {growth_text(m.mb_per_1000, m.ci, m.requests, m.samples)}")
        audio_s = (lv.audio_s_per_s or 0.0) * lv.duration_s
        if lv.cpu_s is not None and audio_s > 0:  # CPU cost (results.figures: core_h_per_audio_h)
            rows.append(
                f"  cpu: {lv.cpu_s:.2f} s of the workers' CPU for {audio_s:.1f} s of audio: "
                f"{lv.cpu_s / audio_s:.3f} core-h/audio-h"
            )
        rows.extend(_claims(lv))
        if lv.saturation.saturated:
            rows.append(f"  saturated: {lv.saturation.why}")
        if lv.stopped_early:
            rows.append(f"  stopped early: {lv.stopped_early}")
        if lv.streamed is not None:
            rows.append(f"  streamed answers: {lv.streamed} of {lv.ok}")
    return "\n".join(rows)


def _target_options() -> list:
    """What is put under load: the engine (as `orch run` takes it) and its input."""
    return [
        option(
            "--engine",
            type=click.Choice(engine_registry.NAMES),
            metavar="NAME",
            default="calibration",
            show_default=True,
            help=ENGINE_HELP,
        ),
        option(
            "--engines",
            metavar="A,B,...",
            help="Run the load study once per engine (an engine named twice runs twice), one table across them.",
        ),
        option(
            "--model",
            multiple=True,
            help=MODEL_HELP.replace("; asr and align take one", "")
            + " With --url: the name the server is asked for."
            + ENGINES_MODEL_HELP,
        ),
        option("--audio", metavar="FILE|DIR", help="Audio file, or a folder: each request picks one (seeded)."),
        option(
            "--audio-list",
            metavar="FILE",
            help="Weighted audio mix: one 'WEIGHT PATH' a line (paths relative to the list's folder).",
        ),
        option("--language", help=LANGUAGE_HELP),
        option(
            "--strategy",
            type=click.Choice(SERVE_STRATEGIES),
            default="restart",
            show_default=True,
            help="restart: long-lived workers; fresh-process: a new process per request.",
        ),
    ]


def _level_options() -> list:
    """The workers, and the levels: rates, a concurrency or the sweep; their length."""
    return [
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
        option("--arrival", type=click.Choice(("constant", "poisson", "gamma")), default="poisson", show_default=True),
        option("--burstiness", type=float, default=1.0, show_default=True, help="gamma's shape (1: poisson)."),
        option("--requests", type=int, help="Exactly N requests per level (instead of the floor below)."),
        option("--duration", type=float, help="Exactly S seconds of sending per level (instead of the floor below)."),
        option(
            "--min-requests",
            type=int,
            metavar="N",
            help=f"A level runs until N requests completed and --min-duration passed [default: {DEFAULT_MIN_REQUESTS}, "
            "the fewest a p90 claim needs].",
        ),
        option("--min-duration", type=float, metavar="S", help="...and at least S seconds [default: 0]."),
        option("--warmup-requests", type=int, default=0, show_default=True, help="Unmeasured requests first."),
        option("--slo", help="Goodput bounds, e.g. ttft_ms=1000,rtf=0.5 (also latency_ms, itl_ms, queue_wait_ms)."),
        option("--seed", type=int, default=0, show_default=True, help="Arrival times and audio choice."),
        option(
            "--check-outputs/--no-check-outputs",
            default=True,
            show_default=True,
            help="Send each audio once alone first; count texts under load that differ from it (drift).",
        ),
        option(
            "--check-caching",
            type=int,
            default=0,
            metavar="N",
            help="After the levels, N requests of one repeated audio against N distinct clips of it "
            "(a WAV --audio): flags a runtime that answers a repeated input faster.",
        ),
    ]


def _run_options() -> list:
    """Bounds on the run, and where its results go."""
    return [
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
    ]


def _url_options() -> list:
    """A server as the target (--url) instead of worker processes."""
    return [
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
        option("--connections", type=int, help="With --url: requests in flight at the server at once [default: 1]."),
        option(
            "--serve-timeout",
            type=float,
            default=300.0,
            show_default=True,
            help="With --serve-cmd: seconds the server may take to answer.",
        ),
    ]


def decorate(f):
    options = [*_target_options(), *_level_options(), *_run_options(), *_url_options(), *engine_option_decorators()]
    for deco in reversed(options):
        f = deco(f)
    return f


def parser() -> click.Command:
    """A command with `orch load`'s options, to read a side's words (`orch ab --load`)."""
    return click.command("load")(decorate(lambda **_kw: None))


def plan_from(kw: dict, given: set[str], flags: dict[str, str], problems: list[str]):
    """The run's plan and notes from `orch load`'s options (`given`: those on the command
    line; `flags`: each option's flag); CannotStart naming every problem, `problems` too."""
    from orchestrator.load import cli_inputs
    from orchestrator.load.plan import LoadPlan

    problems = problems + cli_inputs.number_problems(kw)
    if kw.get("engines"):  # `orch load` runs --engines itself (engine_plans); a side of `orch ab --load` cannot
        problems.append("--engines runs one load study per engine: give it to orch load, not to one side")
    kw = {**kw, "model": _one_model(kw, problems)}
    if kw["check_caching"] and (kw["check_caching"] < 8 or not str(kw["audio"] or "").lower().endswith(".wav")):
        problems.append("--check-caching N needs N >= 8 and --audio a WAV file (its clips are made from it)")
    sweep = cli_inputs.sweep(kw, given, problems)
    if kw["url"]:
        return _server_plan(kw, given, flags, problems, sweep), []
    problems += [f"{cli_inputs.flag(n)} goes with --url" for n in URL_ONLY if n in given]
    audio_problems: list[str] = []
    inputs = cli_inputs.worker_inputs(kw, _run_dir(kw), audio_problems)
    inputs.sweep = sweep
    inputs.language = language(kw["language"], inputs.audio, problems)
    plan, notes = LoadPlan.build(inputs)
    problems += audio_problems + plan.problems(cli_inputs.flag, audio_named=bool(audio_problems))
    problems += _output_problems(kw)
    if problems:
        raise CannotStart(list(dict.fromkeys(problems)))
    refuse_unusable_history(kw)
    if sweep is not None and kw["requests"] is not None and kw["requests"] < DEFAULT_MIN_REQUESTS:
        notes.append(
            f"--sweep with --requests {kw['requests']}: each level is under the {DEFAULT_MIN_REQUESTS} requests "
            "a p90 claim needs (leave --requests out and each level runs until it has them)"
        )
    return plan, notes


def _one_model(kw: dict, problems: list[str]) -> str | None:
    """--model, given once (repeatable only with --engines: ENGINE=PATH once per engine)."""
    values = kw["model"] if isinstance(kw["model"], (tuple, list)) else ((kw["model"],) if kw["model"] else ())
    if len(values) > 1:
        problems.append("--model given more than once: one model a run (--engines takes --model ENGINE=PATH each)")
    return values[0] if values else None


def engine_plans(kw: dict, given: set[str], flags: dict[str, str], problems: list[str]):
    """`orch load --engines A,B`: the study's folder and each engine's plan (studies.load_engines'
    EnginePlan), each made as `orch load --engine E` makes it, its folder `<run dir>/<label>`.
    Engines and models are read as `orch compare --engines` reads them (--model ENGINE=PATH;
    an engine without one gets its tiny test model). CannotStart names every problem: one
    every engine has once, an engine's own with its label."""
    from orchestrator.commands.compare_engines import DEFAULT_MODEL_NAME, model_for, parse_engines, parse_models
    from orchestrator.studies.load_engines import EnginePlan, labels

    for name, what in (("url", "--url (a server runs its own engine)"), ("engine", "--engine")):
        if name in given:
            problems.append(f"--engines runs worker processes of each engine: not with {what}")
    if problems:
        raise CannotStart(problems)
    engines = parse_engines(kw["engines"], repeats=True)
    models = parse_models(tuple(kw["model"] or ()), list(dict.fromkeys(engines)))
    root, plans, each = _run_dir(kw), [], {}
    for label, engine in zip(labels(engines), engines, strict=True):
        model, missing = model_for(engine, models, DEFAULT_MODEL_NAME["tiny"], "tiny")
        each[label] = [missing] if missing else []
        try:
            plan, notes = plan_from({**kw, "engine": engine, "model": model, "engines": None}, given, flags, [])
        except CannotStart as exc:
            each[label] += exc.problems
            continue
        plan.run_dir = plan.pool.log_dir = root / label
        plan.json_path = plan.run_dir / "load.json"
        plans.append(EnginePlan(label, engine, model, plan, notes))
    shared = [p for p in next(iter(each.values()), []) if all(p in ps for ps in each.values())] if len(each) > 1 else []
    named = shared + [f"{label}: {p}" for label, ps in each.items() for p in ps if p not in shared]
    if named:
        raise CannotStart(list(dict.fromkeys(named)))
    return root, plans


def _run_dir(kw) -> Path:
    return Path(kw["out"]) / f"load-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S-%f')}"


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


def _server_plan(kw, given: set[str], flags: dict[str, str], problems: list[str], sweep):
    """`--url`: the checks of a server target, and its plan."""
    from orchestrator.load import cli_inputs
    from orchestrator.load.http_target import MAX_SERVER_REQUESTS
    from orchestrator.load.plan import LoadPlan
    from orchestrator.load.pool import PoolConfig

    levels = cli_inputs.levels(kw, problems)
    slo = cli_inputs.slo(kw, problems)
    count = cli_inputs.request_count(kw)
    floor = cli_inputs.floor(kw, problems)
    per_level = cli_inputs.level_requests(kw, floor)
    target = _server_target(kw, given, flags, problems)
    audio, weights = cli_inputs.audio(kw, problems) if kw["audio"] or kw["audio_list"] else ([], None)
    if not (kw["audio"] or kw["audio_list"]):
        problems.append("--url needs --audio FILE|DIR or --audio-list FILE")
    problems += _output_problems(kw)
    n_levels = sweep.levels if sweep else len(levels) or 1
    if per_level is not None and n_levels * (per_level + (kw["warmup_requests"] or 0)) > MAX_SERVER_REQUESTS:
        problems.append(
            f"{n_levels} level(s) x {per_level + (kw['warmup_requests'] or 0)} requests is over the "
            f"{MAX_SERVER_REQUESTS} a run may send a server"
        )
    if problems:
        raise CannotStart(problems)
    refuse_unusable_history(kw)
    run_dir = _run_dir(kw)
    pool = PoolConfig(
        worker_config=None,
        workers=target.connections,
        log_dir=run_dir,
        request_timeout=kw["request_timeout"],
        sample_hz=kw["sample_hz"],
        max_rss_mb=kw["max_rss_mb"],
        max_queue=kw["max_queue"],
        max_requests=MAX_SERVER_REQUESTS,
    )
    plan = LoadPlan(
        pool=pool,
        levels=levels,
        count=count,
        duration=kw["duration"],
        warmup=kw["warmup_requests"],
        audio=audio,
        slo=slo,
        max_lateness_ms=kw["max_lateness_ms"],
        seed=kw["seed"],
        run_dir=run_dir,
        json_path=run_dir / "load.json",  # read back, kept and copied to --json
        audio_weights=weights,
        sweep=sweep,
        server=target,
        check_outputs=kw["check_outputs"],
        check_caching=kw["check_caching"] or 0,
        floor=floor,
    )
    return plan


def _server_target(kw, given: set[str], flags: dict[str, str], problems: list[str]):
    """The server (--url, --serve-cmd or --pid, --connections); a bad URL is refused at once."""
    from orchestrator.load.http_target import ServerTarget

    for name, flag in flags.items():
        if name not in URL_OPTIONS and name in given:
            problems.append(f"{flag} does not apply to --url (the server runs its own engine)")
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
    return ServerTarget(
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
