"""`orch load`'s options (click's keyword arguments, and which were given on the command
line) as a load run's inputs: the levels (rates, a concurrency or the sweep), the audio, the
SLO, and for worker processes the `LoadInputs` of `LoadPlan.build`. Every problem is named
at once. `orch load` and `orch ab --load` (each side's options) read them here."""

from __future__ import annotations

from pathlib import Path

from orchestrator.engines import fields
from orchestrator.engines import registry as engine_registry
from orchestrator.errors import OrchError, read_text_file
from orchestrator.load import audio_list, record
from orchestrator.load.arrivals import Arrivals, ClosedLoop, OpenLoop
from orchestrator.load.length import DEFAULT_MIN_REQUESTS, Floor
from orchestrator.load.levels import Slo
from orchestrator.load.plan import LoadInputs
from orchestrator.load.sweep import Sweep
from orchestrator.run.audio import AudioError, audio_seconds

AUDIO_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
AudioFiles = list[tuple[str | None, float | None]]


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def number_problems(kw: dict) -> list[str]:
    """Counts >= 1, durations > 0, one of the level modes, --requests or --duration."""
    problems = []
    modes = [k for k in ("rate", "rates", "concurrency") if kw[k] is not None] + (["sweep"] if kw["sweep"] else [])
    if len(modes) != 1:
        problems.append("give one of --rate, --rates, --concurrency, --sweep")
    if kw["requests"] is not None and kw["duration"] is not None:
        problems.append("give --requests or --duration, not both")
    for name in ("workers", "requests", "concurrency", "max_queue", "connections"):
        if kw[name] is not None and kw[name] < 1:
            problems.append(f"{flag(name)} must be >= 1 (got {kw[name]})")
    for name in ("duration", "burstiness", "request_timeout", "max_lateness_ms", "max_rss_mb", "serve_timeout"):
        if kw[name] is not None and not kw[name] > 0:
            problems.append(f"{flag(name)} must be > 0 (got {kw[name]:g})")
    if (kw["warmup_requests"] or 0) < 0:
        problems.append("--warmup-requests must be >= 0")
    if kw["audio"] and kw["audio_list"]:
        problems.append("give --audio or --audio-list, not both")
    return problems


def request_count(kw: dict) -> int | None:
    """Requests per level when --requests fixes it; None: --duration, or a floor (`floor`)."""
    return kw["requests"]


def floor(kw: dict, problems: list[str]) -> Floor | None:
    """A level's floor (load.length): --min-requests (default: the fewest a p90 claim needs)
    and --min-duration, unless --requests or --duration fixes the level's length; a fixed
    length given with a floor is a contradiction, named in one line."""
    fixed = [flag(n) for n in ("requests", "duration") if kw.get(n) is not None]
    floors = [flag(n) for n in ("min_requests", "min_duration") if kw.get(n) is not None]
    if fixed and floors:
        problems.append(
            f"{' and '.join(fixed)} fix{'es' if len(fixed) == 1 else ''} a level's length and {' and '.join(floors)} "
            f"set{'s' if len(floors) == 1 else ''} its floor: give one or the other"
        )
        return None
    if fixed:
        return None
    given_requests, given_seconds = kw.get("min_requests"), kw.get("min_duration")
    try:
        return Floor(
            DEFAULT_MIN_REQUESTS if given_requests is None else given_requests,
            0.0 if given_seconds is None else given_seconds,
        )
    except ValueError as exc:
        problems.append(str(exc))
        return None


def level_requests(kw: dict, chosen: Floor | None) -> int | None:
    """Requests a level sends, as far as known before it runs: --requests, or the floor's."""
    return kw["requests"] if kw["requests"] is not None else chosen.requests if chosen else None


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


def levels(kw: dict, problems: list[str]) -> list[Arrivals]:
    """The levels given: a concurrency (closed loop), or one open-loop level per rate."""
    rates = []
    if kw["rate"] is not None:
        rates = _floats(str(kw["rate"]), "--rate", problems)
    elif kw["rates"]:
        rates = _floats(kw["rates"], "--rates", problems)
    try:
        if kw["concurrency"] is not None and kw["concurrency"] >= 1:
            return [ClosedLoop(kw["concurrency"])]
        if rates and all(r > 0 for r in rates):
            # each level its own draw (seed + level): one bursty draw would skew every level alike
            seed = kw["seed"] or 0
            return [OpenLoop(kw["arrival"], r, kw["burstiness"] or 1.0, seed + k) for k, r in enumerate(rates)]
    except ValueError as exc:
        problems.append(str(exc))
    return []


def sweep(kw: dict, given: set[str], problems: list[str]) -> Sweep | None:
    """--sweep's levels (as many as --sweep-levels), sized to the workers (or connections)."""
    if "sweep_levels" in given and not kw["sweep"]:
        problems.append("--sweep-levels goes with --sweep")
    if not kw["sweep"]:
        return None
    servers = (kw["connections"] or 1) if kw["url"] else kw["workers"]
    try:
        return Sweep(kw["sweep_levels"], max(servers or 1, 1), kw["arrival"], kw["burstiness"] or 1.0, kw["seed"] or 0)
    except ValueError as exc:
        problems.append(str(exc))
        return None


def slo(kw: dict, problems: list[str]) -> Slo:
    try:
        return Slo.parse(kw["slo"])
    except ValueError as exc:
        problems.append(f"--slo: {exc}")
        return Slo()


def audio_files(given: str | None, problems: list[str]) -> AudioFiles:
    """A file, or a folder's audio files (each request picks one, seeded), with their lengths."""
    if not given:
        return [(None, None)]
    path = Path(given)
    files = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES) if path.is_dir() else [given]
    if not files:
        problems.append(f"--audio {given}: a folder with no audio files ({', '.join(AUDIO_SUFFIXES)})")
    out: AudioFiles = []
    for f in files:
        try:
            out.append((f, audio_seconds(f)))
        except AudioError as exc:
            problems.append(f"--audio: {exc}")
    return out


def weighted_audio(given: str, problems: list[str]) -> tuple[AudioFiles, list[float]]:
    """The weighted list's files with their seconds, and their weights; a bad line is a problem."""
    try:
        entries = audio_list.parse(read_text_file(given, "--audio-list"), Path(given).parent)
    except OrchError as exc:
        problems.append(exc.message)
        return [], []
    except ValueError as exc:
        problems.append(f"--audio-list {given} {exc}")
        return [], []
    out: AudioFiles = []
    for _, path in entries:
        try:
            out.append((path, audio_seconds(path)))
        except AudioError as exc:
            problems.append(f"--audio-list {given}: {exc}")
    return out, [w for w, _ in entries]


def audio(kw: dict, problems: list[str]) -> tuple[AudioFiles, list[float] | None]:
    """--audio-list's files and weights, else --audio's files (uniform), else none."""
    if kw["audio_list"]:
        return weighted_audio(kw["audio_list"], problems)
    return audio_files(kw["audio"], problems), None


def worker_inputs(kw: dict, run_dir: Path, problems: list[str]) -> LoadInputs:
    """Worker processes as the target: the engine's options as `orch run` reads them, the
    levels and the audio; what is wrong with them added to `problems`."""
    engine = kw["engine"] or "calibration"
    spec = engine_registry.REGISTRY.get(engine)
    files, weights = audio(kw, problems)
    return LoadInputs(
        engine=engine,
        strategy=kw["strategy"],
        model=kw["model"],
        language=kw["language"],
        engine_options=fields.from_cli(spec.options, kw) if spec else {},
        audio=files,
        audio_weights=weights,
        workers=kw["workers"],
        levels=levels(kw, problems),
        count=request_count(kw),
        duration=kw["duration"],
        floor=floor(kw, problems),
        warmup=kw["warmup_requests"],
        slo=slo(kw, problems),
        max_lateness_ms=kw["max_lateness_ms"],
        seed=kw["seed"],
        request_timeout=kw["request_timeout"],
        sample_hz=kw["sample_hz"],
        max_rss_mb=kw["max_rss_mb"],
        max_queue=kw["max_queue"],
        run_dir=run_dir,
        json_path=run_dir / record.RESULT_FILE,  # read back, kept and copied to --json
        check_outputs=kw["check_outputs"],
        check_caching=kw["check_caching"] or 0,
    )
