"""A stored `orch load` run (schema orch.load/1): what the history database, the report,
`orch ab --load` and a soak's load cell read. The load runner's own result
(orchestrator.load.runner.LoadResult, levels from load.levels.LevelStats) is what is
written; this is how it is read back, typed, by the layers that may not import the runner
(history, results): `LoadRun.from_json` takes the runner's JSON (a `--json` file) or the
stored document (the same, plus run_id, times, host, and a soak's block).

Keys this version does not know are kept in `other` (per level and per run) and written
back unchanged, as RunResult does, so a newer runner's additions are not lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from orchestrator.results.model import ResultError, SoakInfo

LOAD_SCHEMA = "orch.load/1"

# under an SLO, a level is sustained when at least this share of its requests met it
SUSTAINED_SLO_SHARE = 0.9

# the per-request figures a level reports percentiles of (load.levels.Latencies' fields)
LATENCY_FIGURES = ("queue_wait_ms", "ttft_ms", "ttft_dispatch_ms", "itl_ms", "latency_ms", "rtf", "service_ms")


def _split(cls: type, data: Any, what: str) -> tuple[dict, dict]:
    if not isinstance(data, dict):
        raise ResultError(f"{what}: expected an object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)} - {"other"}
    return {k: v for k, v in data.items() if k in known}, {k: v for k, v in data.items() if k not in known}


def _num(v: Any, what: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ResultError(f"{what}: expected a number, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class Pct:
    """p50/p90/p99 of one figure over a level's requests, and how many had it. p90 and p99 are
    early-stopping estimates (results.early_stopping), None where the count could not support them
    (and in load.json files written before that rule, the plain interpolated value)."""

    p50: float
    p90: float | None
    p99: float | None
    n: int

    @classmethod
    def from_json(cls, data: Any, what: str) -> Pct | None:
        if data is None:
            return None
        if not isinstance(data, dict) or any(k not in data for k in ("p50", "p90", "p99")):
            raise ResultError(f"{what}: expected {{p50, p90, p99, n}}, got {data!r}")
        return cls(
            p50=_num(data["p50"], what) or 0.0,
            p90=_num(data["p90"], what),
            p99=_num(data["p99"], what),
            n=int(data.get("n") or 0),
        )


# the fewest requests (finished while sampled) a figure per 1000 requests is given from: under
# it a slope is extrapolated more than 20 times, and a worker's first requests (its buffers
# growing) are most of it (docs/load.md: +734.9 MB per 1000 from 10 requests, -1837 on the next)
MIN_GROWTH_REQUESTS = 50


def growth_text(mb_per_1000: float, ci: tuple[float, float], requests: int, samples: int) -> str:
    """A growth per 1000 requests as every output says it: the figure, its CI and its count;
    under MIN_GROWTH_REQUESTS, `too few requests` with the count instead."""
    counted = f"{requests} requests, {samples} samples"
    if requests < MIN_GROWTH_REQUESTS:
        return f"too few requests for a figure per 1000 ({counted}; {MIN_GROWTH_REQUESTS} needed)"
    return f"{mb_per_1000:+.2f} MB per 1000 requests (95% CI {ci[0]:+.2f}..{ci[1]:+.2f}; {counted})"


@dataclass(frozen=True)
class LoadMemory:
    """Memory (tree RSS, MB) per thousand requests of one worker slot or the pool, with its 95% CI."""

    who: str  # a worker slot's name (w1, w2, ...) or "pool"
    mb_per_1000: float
    ci_low: float
    ci_high: float
    requests: int
    samples: int
    points: tuple[tuple[int, float], ...] = ()  # (finished requests, MB) as fitted

    @property
    def enough(self) -> bool:
        """Enough requests for the figure to be told (MIN_GROWTH_REQUESTS)."""
        return self.requests >= MIN_GROWTH_REQUESTS

    def describe(self) -> str:
        return growth_text(self.mb_per_1000, (self.ci_low, self.ci_high), self.requests, self.samples)

    @classmethod
    def from_json(cls, data: Any) -> LoadMemory:
        if not isinstance(data, dict) or "who" not in data or "mb_per_1000" not in data:
            raise ResultError(f"load memory: expected {{who, mb_per_1000, ci, ...}}, got {data!r}")
        ci = data.get("ci") or [data.get("ci_low"), data.get("ci_high")]
        return cls(
            who=str(data["who"]),
            mb_per_1000=float(data["mb_per_1000"]),
            ci_low=float(ci[0]),
            ci_high=float(ci[1]),
            requests=int(data.get("requests") or 0),
            samples=int(data.get("samples") or 0),
            points=tuple((int(n), float(mb)) for n, mb in data.get("points") or []),
        )

    def to_json(self) -> dict:
        return {
            "who": self.who,
            "mb_per_1000": self.mb_per_1000,
            "ci": [self.ci_low, self.ci_high],
            "requests": self.requests,
            "samples": self.samples,
            "points": [list(p) for p in self.points],
        }


@dataclass
class LoadLevel:
    """One level of a load run, as load.levels.LevelStats wrote it."""

    level: int
    arrivals: str
    offered_rate: float | None
    sent: int
    ok: int
    failed: int
    timed_out: int
    dropped: int
    cancelled: int
    duration_s: float
    throughput_rps: float
    audio_s_per_s: float | None
    slo: str
    goodput_rps: float | None
    latencies: dict[str, Pct | None]  # LATENCY_FIGURES -> percentiles (None: no request had it)
    lateness_ms: Pct | None
    valid: bool
    invalid_reason: str | None
    saturated: bool
    saturation_why: str
    saturation: dict = field(default_factory=dict)  # the whole block as written (slope, CI, rise)
    memory: list[LoadMemory] = field(default_factory=list)
    # the workers' CPU seconds (user + system of their process trees) over the level; None
    # where it was not read (a level served over --url, or before orch read it)
    cpu_s: float | None = None
    other: dict = field(default_factory=dict)

    @property
    def core_h_per_audio_h(self) -> float | None:
        """CPU cost (results.figures): core-hours of the workers' CPU per hour of audio served."""
        audio_s = (self.audio_s_per_s or 0.0) * self.duration_s
        if self.cpu_s is None or audio_s <= 0:
            return None
        return self.cpu_s / audio_s

    @property
    def latency_ms(self) -> Pct | None:
        """The latency percentiles (results.figures' `latency_ms`)."""
        return self.latencies.get("latency_ms")

    @property
    def mb_per_1000(self) -> float | None:
        """The pool's memory growth per 1000 requests, where enough requests give it (MIN_GROWTH_REQUESTS)."""
        fit = self.pool_memory
        return fit.mb_per_1000 if fit is not None and fit.enough else None

    @property
    def floor(self) -> dict | None:
        """The level against its floor (--min-requests/--min-duration: load.length); None: a fixed length."""
        floor = self.other.get("floor")
        return floor if isinstance(floor, dict) else None

    @property
    def short_of_floor(self) -> str | None:
        """`too short for its claims: ...` when the level ended short of its floor, else None."""
        floor = self.floor
        if floor is None or floor.get("met", True):
            return None
        return str(floor.get("why") or "too short for its claims")

    @property
    def accounted(self) -> bool:
        return self.sent == self.ok + self.failed + self.timed_out + self.dropped + self.cancelled

    @property
    def concurrency(self) -> int | None:
        """A closed loop's requests in flight (from its description), else None."""
        if self.arrivals.startswith("concurrency "):
            try:
                return int(self.arrivals.split()[1])
            except ValueError:
                return None
        return None

    @property
    def sustained(self) -> bool:
        """The service held this level: the generator kept its schedule (valid), the queue
        did not keep growing (not saturated), no request failed, timed out or was dropped,
        and under an SLO at least SUSTAINED_SLO_SHARE of the requests met it — shown at 99%
        confidence by LoadGen's early-stopping test where the level recorded it (`slo_claim`:
        a level too short for the claim is not sustained), else (older files) as a plain share."""
        if not self.valid or self.saturated or self.failed or self.timed_out or self.dropped or not self.sent:
            return False
        if self.goodput_rps is None:
            return True
        claim = self.other.get("slo_claim")
        if isinstance(claim, dict) and "holds" in claim:  # the early-stopping test (results.early_stopping)
            return bool(claim["holds"])
        met = self.goodput_rps * self.duration_s  # goodput is met requests over the level's span
        return met >= SUSTAINED_SLO_SHARE * self.sent - 1e-9

    @property
    def drifted(self) -> int:
        """Requests whose text differed from their audio's text alone (drift under load; 0 unchecked)."""
        check = self.other.get("drift_under_load")
        return int(check.get("drifted") or 0) if isinstance(check, dict) else 0

    def figure(self, name: str) -> Pct | None:
        return self.latencies.get(name)

    def memory_of(self, who: str) -> LoadMemory | None:
        return next((m for m in self.memory if m.who == who), None)

    @property
    def pool_memory(self) -> LoadMemory | None:
        """The pool's growth; with one worker, that worker's (it is the pool)."""
        pool = self.memory_of("pool")
        if pool is None and len(self.memory) == 1:
            return self.memory[0]
        return pool

    @classmethod
    def from_json(cls, data: Any) -> LoadLevel:
        known, other = _split(cls, data, "load level")
        where = f"load level {known.get('level')}"
        for key in ("level", "arrivals", "sent", "ok", "throughput_rps", "duration_s"):
            if key not in known:
                raise ResultError(f"{where}: no {key!r}")
        lat = known.get("latencies") or {}
        if not isinstance(lat, dict):
            raise ResultError(f"{where}: latencies must be an object")
        sat = known.get("saturation") or {}
        if not isinstance(sat, dict):
            raise ResultError(f"{where}: saturation must be an object")
        other.pop("accounted", None)  # derived (the property)
        return cls(
            level=int(known["level"]),
            arrivals=str(known["arrivals"]),
            offered_rate=_num(known.get("offered_rate"), f"{where}: offered_rate"),
            sent=int(known["sent"]),
            ok=int(known["ok"]),
            failed=int(known.get("failed") or 0),
            timed_out=int(known.get("timed_out") or 0),
            dropped=int(known.get("dropped") or 0),
            cancelled=int(known.get("cancelled") or 0),
            duration_s=float(known["duration_s"]),
            throughput_rps=float(known["throughput_rps"]),
            audio_s_per_s=_num(known.get("audio_s_per_s"), f"{where}: audio_s_per_s"),
            slo=str(known.get("slo") or ""),
            goodput_rps=_num(known.get("goodput_rps"), f"{where}: goodput_rps"),
            latencies={name: Pct.from_json(lat.get(name), f"{where}: {name}") for name in LATENCY_FIGURES},
            lateness_ms=Pct.from_json(known.get("lateness_ms"), f"{where}: lateness_ms"),
            valid=bool(known.get("valid", True)),
            invalid_reason=known.get("invalid_reason"),
            saturated=bool(sat.get("saturated", known.get("saturated", False))),
            saturation_why=str(sat.get("why", known.get("saturation_why", ""))),
            saturation=sat,
            memory=[LoadMemory.from_json(m) for m in known.get("memory") or []],
            cpu_s=_num(known.get("cpu_s"), f"{where}: cpu_s"),
            other=other,
        )

    def to_json(self) -> dict:
        """As LevelStats.to_json writes it (so a stored level reads back the same)."""

        def pct(p: Pct | None) -> dict | None:
            return None if p is None else dataclasses.asdict(p)

        out = {
            "level": self.level,
            "arrivals": self.arrivals,
            "offered_rate": self.offered_rate,
            "sent": self.sent,
            "ok": self.ok,
            "failed": self.failed,
            "timed_out": self.timed_out,
            "dropped": self.dropped,
            "cancelled": self.cancelled,
            "accounted": self.accounted,
            "duration_s": self.duration_s,
            "throughput_rps": self.throughput_rps,
            "audio_s_per_s": self.audio_s_per_s,
            "slo": self.slo,
            "goodput_rps": self.goodput_rps,
            "latencies": {k: pct(v) for k, v in self.latencies.items()},
            "lateness_ms": pct(self.lateness_ms),
            "valid": self.valid,
            "invalid_reason": self.invalid_reason,
            "saturation": {**self.saturation, "saturated": self.saturated, "why": self.saturation_why},
            "memory": [m.to_json() for m in self.memory],
        }
        if self.cpu_s is not None:
            out["cpu_s"] = self.cpu_s
        out.update(self.other)
        return out


@dataclass
class LoadAlarm:
    """One bound a soak's load cell went past (studies/soak_load.py): p99 latency over its
    bound, goodput under its bound, memory per 1000 requests over its bound, or requests
    that failed."""

    kind: str  # p99_latency | goodput | memory | failed
    level: int
    arrivals: str
    value: float | None
    bound: float | None
    message: str

    @classmethod
    def from_json(cls, data: Any) -> LoadAlarm:
        known, _other = _split(cls, data, "load alarm")
        return cls(
            kind=str(known.get("kind")),
            level=int(known.get("level") or 0),
            arrivals=str(known.get("arrivals") or ""),
            value=_num(known.get("value"), "load alarm value"),
            bound=_num(known.get("bound"), "load alarm bound"),
            message=str(known.get("message") or ""),
        )

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class LoadRun:
    """A load run: the runner's result (plan, levels, engine, what went wrong) and, once the
    command or a soak keeps it, its run_id, times and host (the history's columns)."""

    run_id: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    host: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)
    levels: list[LoadLevel] = field(default_factory=list)
    records_path: str | None = None
    interrupted: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    soak: SoakInfo | None = None
    alarms: list[LoadAlarm] = field(default_factory=list)
    schema: str = LOAD_SCHEMA
    other: dict = field(default_factory=dict)

    @property
    def engine_name(self) -> str | None:
        return self.engine.get("name") or self.plan.get("engine")

    @property
    def strategy(self) -> str | None:
        return self.plan.get("strategy")

    @property
    def workers(self) -> int | None:
        w = self.plan.get("workers")
        return int(w) if isinstance(w, int) else None

    @property
    def level_length(self) -> str:
        """How long each level ran, as the plan said: `100 requests`, `30 s`, or a floor
        (`at least 64 requests`, `... and 10 s`: --min-requests/--min-duration)."""
        plan = self.plan
        if plan.get("requests"):
            return f"{plan['requests']} requests"
        if plan.get("duration_s"):
            return f"{plan['duration_s']} s"
        if plan.get("min_requests"):
            seconds = plan.get("min_duration_s") or 0
            return f"at least {plan['min_requests']} requests" + (f" and {seconds:g} s" if seconds else "")
        return "?"

    @property
    def max_sustainable_rate(self) -> float | None:
        """The highest offered rate up to which every open-loop level was sustained (levels
        in rate order; the first that is not ends the count); None when none was, or no
        level is open loop."""
        best = None
        open_loop = [(lv.offered_rate, lv) for lv in self.levels if lv.offered_rate is not None]
        for rate, lv in sorted(open_loop, key=lambda pair: pair[0]):
            if not lv.sustained:
                break
            best = rate
        return best

    def max_rate_line(self) -> str:
        """The run's answer in one line, as the terminal, `history show` and the report say it."""
        return "max sustainable rate: " + self.max_rate_text()

    def max_rate_text(self) -> str:
        """The max sustainable rate, or why there is none: no open-loop level was run (a closed
        loop sets no rate), or the lowest open-loop level was not sustained."""
        rate = self.max_sustainable_rate
        if rate is not None:
            return f"{rate:g} req/s"
        if all(lv.offered_rate is None for lv in self.levels):
            return "not measured (no open-loop level: a closed loop offers no rate)"
        return "none (no open-loop level was sustained from the lowest up)"

    @property
    def status(self) -> str:
        """ok: every request of every level ok; else what went wrong first: error (the
        memory guard), interrupted, failed (a request failed or timed out), dropped, drifted (a
        text under load other than the same audio's alone: load.output_checks)."""
        if self.error:
            return "error"
        if self.interrupted:
            return "interrupted"
        if any(lv.failed or lv.timed_out for lv in self.levels):
            return "failed"
        if any(lv.dropped for lv in self.levels):
            return "dropped"
        if any(lv.drifted for lv in self.levels):
            return "drifted"
        return "ok" if self.levels else "empty"

    def to_json(self) -> dict:
        out: dict[str, Any] = {
            "schema": LOAD_SCHEMA,
            "run_id": self.run_id,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "host": self.host,
            "engine": self.engine,
            "plan": self.plan,
            "levels": [lv.to_json() for lv in self.levels],
            "records_path": self.records_path,
            "interrupted": self.interrupted,
            "error": self.error,
            "notes": list(self.notes),
        }
        if self.soak is not None:
            out["soak"] = self.soak.to_json()
        if self.alarms:
            out["alarms"] = [a.to_json() for a in self.alarms]
        out.update(self.other)
        return out

    @classmethod
    def from_json(cls, data: Any) -> LoadRun:
        """The stored document, or the runner's JSON (no schema, run_id, times or host)."""
        known, other = _split(cls, data, "load result")
        schema = known.get("schema", LOAD_SCHEMA)
        if schema != LOAD_SCHEMA:
            raise ResultError(f"unknown load result schema {schema!r}: this orch reads {LOAD_SCHEMA}")
        levels = known.get("levels")
        if not isinstance(levels, list) or not isinstance(known.get("plan"), dict):
            raise ResultError("not an orch load result: it has no `plan` and `levels`")
        return cls(
            run_id=known.get("run_id"),
            started_at=known.get("started_at"),
            finished_at=known.get("finished_at"),
            host=known.get("host") or {},
            engine=known.get("engine") or {},
            plan=known["plan"],
            levels=[LoadLevel.from_json(lv) for lv in levels],
            records_path=known.get("records_path"),
            interrupted=bool(known.get("interrupted")),
            error=known.get("error"),
            notes=list(known.get("notes") or []),
            soak=SoakInfo.from_json(known.get("soak")),
            alarms=[LoadAlarm.from_json(a) for a in known.get("alarms") or []],
            other=other,
        )


def is_load_document(data: Any) -> bool:
    """A JSON document is a load run's (the schema says so, or it has a plan and levels and no results)."""
    if not isinstance(data, dict):
        return False
    if data.get("schema") == LOAD_SCHEMA:
        return True
    return "schema" not in data and isinstance(data.get("levels"), list) and isinstance(data.get("plan"), dict)
