"""What a load run is asked to do: `LoadPlan`, built by `LoadPlan.build(LoadInputs)` as
`RunPlan.build` builds a run's plan — the same thing underneath: the target's engine side is
a RunPlan (one strategy, the model, the first audio file, the language, greedy decoding by
default) typed by the engine's own hooks (its plan hook: paths resolved, the language
guessed, a test model's output bounded; its pre-flight: what stops it before a worker
starts), and the workers' config comes from orchestrator.run.worker_config, in serve mode.
`orch load` and a soak's load cell both build their plan here; what the plan decides on the
user's behalf comes back as notes, what stops it as `problems(label)`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.engines import registry as engine_registry
from orchestrator.load.arrivals import Arrivals, OpenLoop
from orchestrator.load.http_target import ServerTarget
from orchestrator.load.length import Floor
from orchestrator.load.levels import DEFAULT_MAX_LATENESS_MS, Slo
from orchestrator.load.pool import PoolConfig
from orchestrator.load.sweep import Sweep
from orchestrator.run import worker_config
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs
from orchestrator.run.preflight import preflight

NO_AUDIO = "no audio given"  # the engine's pre-flight line when no file is left to name


@dataclass
class LoadInputs:
    """What the user gave (command line or soak cell), typed; the audio files already read
    (file, seconds), `[(None, None)]` for none."""

    engine: str | None = None
    strategy: str = "restart"
    model: str | None = None
    language: str | None = None
    decoding: str | None = None  # greedy | sampled (engines/decoding.py); None: greedy
    engine_options: dict[str, Any] = field(default_factory=dict)  # as `orch run` takes them
    audio: list[tuple[str | None, float | None]] = field(default_factory=lambda: [(None, None)])
    audio_weights: list[float] | None = None
    workers: int = 1
    levels: list[Arrivals] = field(default_factory=list)
    sweep: Sweep | None = None
    count: int | None = None
    duration: float | None = None
    floor: Floor | None = None  # --min-requests/--min-duration (load.length): with neither count nor duration
    warmup: int = 0
    slo: Slo = field(default_factory=Slo)
    max_lateness_ms: float = DEFAULT_MAX_LATENESS_MS
    seed: int = 0
    request_timeout: float = 120.0
    sample_hz: float = 10.0
    max_rss_mb: float | None = None
    max_queue: int = 10_000
    run_dir: Path = Path("orch-results/load")
    json_path: Path | None = None
    check_outputs: bool = True  # the reference pass and drift under load (load.output_checks, TEST01)
    check_caching: int = 0  # requests a side of the caching check (TEST04); 0: not run


@dataclass
class LoadPlan:
    pool: PoolConfig
    levels: list[Arrivals]
    count: int | None
    duration: float | None
    warmup: int
    audio: list[tuple[str | None, float | None]]  # (file, seconds)
    slo: Slo = field(default_factory=Slo)
    max_lateness_ms: float = DEFAULT_MAX_LATENESS_MS
    seed: int = 0
    run_dir: Path = Path("orch-results/load")
    json_path: Path | None = None
    audio_weights: list[float] | None = None  # how often each `audio` file is picked (None: uniform)
    sweep: Sweep | None = None  # the automatic sweep: its levels are made as it runs (`levels` unused)
    server: ServerTarget | None = None  # a server as the target (--url), in place of worker processes
    run_plan: RunPlan | None = None  # the workers' engine side (LoadPlan.build); None: a server
    check_outputs: bool = True  # the reference pass and drift under load (load.output_checks, TEST01)
    check_caching: int = 0  # requests a side of the caching check (TEST04); 0: not run
    floor: Floor | None = None  # a level runs until this is met (load.length); None: count or duration

    @classmethod
    def build(cls, given: LoadInputs) -> tuple[LoadPlan, list[str]]:
        """The plan of a worker target from what the user gave, and notes on what was decided
        for them (the engine's plan hook's). `problems()` says what stops it."""
        files = [path for path, _ in given.audio if path]
        run_plan, notes = RunPlan.build(
            PlanInputs(
                strategies=[given.strategy],
                engine=given.engine,
                models=[given.model] if given.model else [],
                audio=files[0] if files else None,
                language=given.language,
                decoding=given.decoding,
                engine_options=dict(given.engine_options),
                max_rss_mb=0,  # the pool has its own memory guard (max_rss_mb below)
            )
        )
        known = run_plan.engine in engine_registry.REGISTRY
        pool = PoolConfig(
            worker_config=worker_config.build(run_plan, given.strategy, serve=True) if known else None,
            workers=given.workers,
            log_dir=given.run_dir,
            request_timeout=given.request_timeout,
            sample_hz=given.sample_hz,
            max_rss_mb=given.max_rss_mb,
            max_queue=given.max_queue,
        )
        plan = cls(
            pool=pool,
            levels=list(given.levels),
            count=given.count,
            duration=given.duration,
            warmup=given.warmup,
            audio=list(given.audio),
            slo=given.slo,
            max_lateness_ms=given.max_lateness_ms,
            seed=given.seed,
            run_dir=given.run_dir,
            json_path=given.json_path,
            audio_weights=given.audio_weights,
            sweep=given.sweep,
            run_plan=run_plan,
            check_outputs=given.check_outputs,
            check_caching=given.check_caching,
            floor=given.floor,
        )
        return plan, notes

    def problems(self, label: Callable[[str], str] = lambda key: key, audio_named: bool = False) -> list[str]:
        """What stops the workers before one starts: the engine side's plan and pre-flight
        (as `orch run`'s: the engine, its options, its strategies, the model, the audio),
        every one named. `audio_named`: the caller has named a problem with the audio given,
        so the engine's "no audio given" would only repeat it."""
        if self.run_plan is None:
            return []
        problems = preflight(self.run_plan, label)
        return [p for p in problems if not (audio_named and p.startswith(NO_AUDIO))]

    @property
    def decoding(self) -> str | None:
        return self.run_plan.decoding if self.run_plan is not None else None

    def describe(self) -> dict[str, Any]:
        cfg = self.pool.worker_config
        if self.server is not None or cfg is None:
            target: dict[str, Any] = {"engine": "server", "strategy": None, "models": [self.server_model]}
        else:
            target = {"engine": cfg.engine, "strategy": cfg.strategy, "models": list(cfg.models) or [None]}
        out = {
            **target,
            "workers": self.pool.workers,
            "levels": [self.sweep.describe()] if self.sweep else [a.describe() for a in self.levels],
            "requests": self.count,
            "duration_s": self.duration,
            "min_requests": self.floor.requests if self.floor else None,
            "min_duration_s": self.floor.seconds if self.floor else None,
            "warmup_requests": self.warmup,
            "audio": [path for path, _ in self.audio],
            "slo": self.slo.describe(),
            "max_lateness_ms": self.max_lateness_ms,
            "request_timeout_s": self.pool.request_timeout,
            "max_queue": self.pool.max_queue,
            "max_rss_mb": self.pool.max_rss_mb,
            "seed": self.seed,
            "arrival_seeds": [a.seed for a in self.levels if isinstance(a, OpenLoop)],
            "check_outputs": self.check_outputs,
            "check_caching": self.check_caching,
        }
        if self.decoding is not None:
            out["decoding"] = self.decoding  # greedy unless asked: the same audio, the same text
        if self.audio_weights:
            out["audio_weights"] = self.audio_weights
        if self.server:
            out["server"] = self.server.describe()
        return out

    @property
    def server_model(self) -> str | None:
        return self.server.model if self.server is not None else None
