"""The self-test (`orch selftest`, orchestrator.commands.selftest): proves the harness measures true, by running the calibration engine with
known leaks and known timings through every strategy and comparing injected with measured.

Tolerances (from the harness's acceptance criteria): growth within ±5% of the injected leak
or ±0.05 MB/iteration, whichever is larger; median TTFT and inter-token latency within 1 ms,
judged so that a busy host cannot fail them (orchestrator.studies.selftest_timing: the tolerance
widens by the measured spread, a miss runs again, and a host too busy to judge makes the
check `inconclusive`, which is no failure).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.results.checks import Check, progress_lines
from orchestrator.results.model import Attribution, Status, StrategyResult, Summary, Verdict
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs
from orchestrator.run.runner import execute
from orchestrator.studies import attribution
from orchestrator.studies.selftest_drift import drift_checks
from orchestrator.studies.selftest_resources import resource_checks
from orchestrator.studies.selftest_stream import stream_checks
from orchestrator.studies.selftest_timing import ATTEMPTS, TOLERANCE_MS, HostLoad, HostWatch, TimingRun, run_check

TTFT_MS, TOKEN_MS = 50.0, 10.0


def growth_tolerance(injected: float) -> float:
    return max(0.05 * injected, 0.05)


def _growth_check(name: str, summary: Summary, injected: float) -> Check:
    g = summary.growth_mb_per_iter
    ok = g is not None and abs(g - injected) <= growth_tolerance(injected)
    ci = summary.growth_ci95
    detail = (f"CI [{ci[0]:.3f}, {ci[1]:.3f}], " if ci else "") + f"verdict {summary.verdict}"
    if injected == 0:
        # no leak, with confidence: the whole 95% CI within the tolerance (an equivalence
        # test). "Contains 0" failed by chance on fresh-process, whose worker differs by
        # +-80 KB from one process to the next, with CIs like [0.002, 0.012] MB/iter.
        tol = growth_tolerance(0.0)
        ok = ok and summary.verdict is Verdict.STABLE and ci is not None and -tol <= ci[0] and ci[1] <= tol
    return Check(name, f"{injected:g} MB/iter", g, ok, detail)


def timing_run(entry: StrategyResult, host: HostLoad, key: str) -> TimingRun:
    """A run's per-iteration values of `key` (ttft_ms, itl_ms_p50) after warm-up, with how
    often the worker was preempted before its first token (in-process workers report it)."""
    measured = entry.measured() if entry.status is Status.OK else []
    values = [float(v) for it in measured if (v := getattr(it, key)) is not None]
    switches = [it.extra.get("ttft_involuntary_switches") for it in measured]
    known = bool(switches) and all(n is not None for n in switches)
    return TimingRun(values, host, sum(1 for n in switches if n) if known else None)


Rerun = Callable[[], tuple[StrategyResult, HostLoad]]


def _timing_checks(strategy: str, first: tuple[StrategyResult, HostLoad], rerun: Rerun, echo) -> list[Check]:
    """Median TTFT and ITL against the injected ones; a miss runs the strategy again (one
    rerun serves both checks), up to ATTEMPTS runs in all (orchestrator.studies.selftest_timing)."""
    runs = [first]

    def run_at(k: int) -> tuple[StrategyResult, HostLoad]:
        while len(runs) <= k:
            runs.append(rerun())
        return runs[k]

    out = []
    for key, injected, label in (("ttft_ms", TTFT_MS, "TTFT"), ("itl_ms_p50", TOKEN_MS, "ITL")):
        name = f"{strategy}: median {label}"

        def retry(k, judged, name=name, injected=injected):
            got = "nothing measured" if judged.median is None else f"{judged.median:.3f} ms ({judged.detail})"
            echo(f"  again {name} {got} is not {injected:g} ± {TOLERANCE_MS:g} ms: run {k + 1} of {ATTEMPTS}")

        def timing_at(k: int, key: str = key) -> TimingRun:
            return timing_run(*run_at(k), key)

        got = run_check(injected, timing_at, retry)
        out.append(
            Check(
                name,
                f"{injected:g} ms",
                got.measured,
                got.result == "pass",
                got.detail,
                inconclusive=got.result == "inconclusive",
            )
        )
    return out


def cases(iters: int):
    """(strategy, engine options, what to check) for every check the self-test makes."""
    base = {"ttft_ms": TTFT_MS, "token_ms": TOKEN_MS}
    for strategy in ("restart", "recreate"):
        for leak in (0.0, 0.5, 2.0, 8.0):
            yield strategy, {**base, "leak_mb": leak}, ("leak", leak)
    yield "recreate", {**base, "leak_on_load_mb": 4.0}, ("leak_on_load", 4.0)
    yield "restart", {**base, "leak_on_load_mb": 4.0}, ("leak_on_load", 0.0)  # loads once
    for strategy in ("fresh-process", "cli", "cli-interactive"):
        # a per-call leak must not show in a strategy that starts a new process per request
        expect = 2.0 if strategy == "cli-interactive" else 0.0
        yield strategy, {**base, "leak_mb": 2.0}, ("leak", expect)


def calibration_plan(strategy: str, options: dict, iters: int, warmup: int, out_dir: Path) -> RunPlan:
    """A calibration run of one strategy through RunPlan.build (the one constructor), with no
    memory guard (the self-test's leaks are small and known). Its notes (a warm-up that
    leaves nothing to measure) are the command's to say before it starts (`plan_notes`)."""
    plan, _notes = RunPlan.build(
        PlanInputs(
            strategies=[strategy],
            iters=iters,
            warmup=warmup,
            engine="calibration",
            engine_options=options,
            out_dir=out_dir,
            max_rss_mb=0,
        )
    )
    return plan


def plan_notes(iters: int, warmup: int, out_dir: Path) -> list[str]:
    """What RunPlan.build notes for the self-test's runs: the strategy runs', then the shorter
    attribution runs' (at most 8 iterations) when they differ."""
    notes: list[str] = []
    for n in (iters, min(iters, 8)):
        _plan, found = RunPlan.build(
            PlanInputs(
                strategies=["recreate"], iters=n, warmup=warmup, engine="calibration", out_dir=out_dir, max_rss_mb=0
            )
        )
        notes += [f for f in found if f not in notes]
    return notes


def _measure(strategy: str, options: dict, iters: int, warmup: int, out_dir: Path) -> tuple[StrategyResult, HostLoad]:
    """One calibration run of one strategy, and how busy the host was meanwhile."""
    plan = calibration_plan(strategy, options, iters, warmup, out_dir)
    watch = HostWatch()
    entry = execute(plan).results[0]
    return entry, watch.load()


def run_selftest(iters: int, warmup: int, out_dir: Path, echo=print) -> list[Check]:
    checks: list[Check] = []
    timed = set()
    clean: dict[str, StrategyResult] = {}  # each strategy's first run: no text changed on purpose
    for strategy, options, (_kind, expected) in cases(iters):
        first = _measure(strategy, options, iters, warmup, out_dir)
        r = first[0]
        clean.setdefault(strategy, r)
        injected = ", ".join(f"{k}={v:g}" for k, v in options.items() if k not in ("ttft_ms", "token_ms"))
        case = f"{strategy} [{injected}]"
        if r.status is not Status.OK or r.summary is None:
            found = [Check(f"{case}: status", "ok", None, False, r.error or str(r.status))]
        else:
            found = [_growth_check(f"{case}: growth", r.summary, expected)]
            if strategy not in timed:
                timed.add(strategy)
                again = lambda s=strategy, o=options: _measure(s, o, iters, warmup, out_dir)
                found += _timing_checks(strategy, first, again, echo)
        for line in progress_lines(case, found):
            echo(line)
        checks += found
    checks += drift_checks(clean, out_dir, echo)
    base = {"ttft_ms": TTFT_MS, "token_ms": TOKEN_MS}
    checks += resource_checks(clean.get("restart"), calibration_plan, base, iters, warmup, out_dir, echo)
    checks += attribution_checks(iters, warmup, out_dir, echo)
    checks += stream_checks(out_dir, echo)
    return checks


ATTRIBUTION_TOLERANCE = 0.10  # ±10% of the injected leak per iteration
LEAK_FUNCTION = "native_alloc"  # workers/engines/calibration.py: where the leak is allocated


def attribution_checks(iters: int, warmup: int, out_dir: Path, echo=print) -> list[Check]:
    """`orch attribute` on known leaks: the leaking function is the top stack, at ±10% of the
    injected MiB per iteration; with no leak no stack is named; an allocated-but-untouched
    decoy and freed-again churn are never named (orchestrator.studies.attribution).
    Without memray: one check marked skipped that says how to install it."""
    missing = attribution.tracer_missing()
    if missing:
        return [Check("attribution", "—", None, True, f"skipped: {missing}", skipped=True)]
    checks: list[Check] = []
    # a never-touched decoy (8 MiB/iter requested, not resident) and freed-again churn ride
    # along with the no-leak and 2 MiB runs: neither may be blamed
    decoys = {"decoy_mb": 8.0, "churn_mb": 4.0}
    for leak, extra in ((0.0, decoys), (2.0, decoys), (8.0, {})):
        plan = _attribution_plan(iters, warmup, out_dir, leak, extra)
        _entry, att = attribution.attribute_strategy(plan, "recreate")
        name = f"attribute recreate [leak_mb={leak:g}" + (", decoy_mb=8, churn_mb=4]" if extra else "]")
        if att.error:
            checks.append(Check(name, f"{leak:g} MiB/iter", None, False, att.error))
            echo(f"  MISS {name}")
            continue
        found = _attribution_result_checks(name, leak, bool(extra), att)
        checks += found
        echo(f"  {'ok  ' if all(c.ok for c in found) else 'MISS'} {name}")
    return checks


def _attribution_plan(iters: int, warmup: int, out_dir: Path, leak: float, extra: dict) -> RunPlan:
    """A recreate run of the calibration engine leaking `leak` MB per call (at most 8 iterations)."""
    base = {"ttft_ms": TTFT_MS, "token_ms": TOKEN_MS}
    return calibration_plan("recreate", {**base, "leak_mb": leak, **extra}, min(iters, 8), warmup, out_dir)


def _attribution_result_checks(name: str, leak: float, with_decoys: bool, att: Attribution) -> list[Check]:
    """The checks on one attribution: nothing named (no leak) or the leaking function on top,
    and, when the decoy and churn ran along, neither blamed."""
    checks: list[Check] = []
    top = att.stacks[0] if att.stacks else None
    if leak == 0:
        checks.append(
            Check(
                f"{name}: nothing named",
                f"< {attribution.FLOOR_MIB:g} MiB/iter",
                top.mib_per_iter if top else 0.0,
                top is None,
                f"named {top.name}" if top else "",
            )
        )
    else:
        got = top.mib_per_iter if top else None
        ok = (
            top is not None
            and top.name.startswith(LEAK_FUNCTION + " ")
            and abs(top.mib_per_iter - leak) <= ATTRIBUTION_TOLERANCE * leak
        )
        checks.append(
            Check(
                f"{name}: top stack",
                f"{LEAK_FUNCTION} {leak:g} MiB/iter",
                got,
                ok,
                top.name if top else "no stack named",
            )
        )
    if with_decoys:
        blamed = [s.name for s in att.stacks if s.name.startswith(("decoy_alloc", "churn_alloc"))]
        checks.append(
            Check(
                f"{name}: decoy and churn not blamed",
                "not named",
                None,
                not blamed,
                ", ".join(blamed),
            )
        )
    return checks
