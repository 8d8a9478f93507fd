"""The self-test's resource checks: the calibration engine leaks threads, file descriptors and
memory maps on demand (--leak-threads/--leak-fds/--leak-maps, per inference call), and the
resource figures (results.figures, kind resource) must measure back exactly what was injected
— growth 1.000, 2.000, 3.000 per iteration with 95% CIs that exclude 0 — and nothing on a
clean run. Threads are leaked in a run of their own: each thread's stack and its malloc arena
are maps too, so a thread leak also grows the map count (as a real one does)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.results.checks import Check, progress_lines
from orchestrator.results.model import Status, StrategyResult
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

EXACT = 0.0005  # "exactly": equal at the three decimals the tables show
CLEAN_TOLERANCE = 0.05  # a clean run: growth within this (per iteration), verdict stable

# (engine options of a restart run, {resource: injected growth per iteration})
LEAKS = (
    ({"leak_threads": 1}, {"threads": 1.0}),
    ({"leak_fds": 2, "leak_maps": 3}, {"fds": 2.0, "maps": 3.0}),
)
CLEAN = ("threads", "fds", "maps")


def resource_check(name: str, entry: StrategyResult, resource: str, injected: float) -> Check:
    """The resource's growth per iteration against the injected one: exact, with a CI that
    excludes 0 when something was injected; stable and within CLEAN_TOLERANCE when not."""
    if entry.status is not Status.OK or entry.summary is None:
        return Check(name, f"{injected:.3f}/iter", None, False, entry.error or str(entry.status))
    fit = (entry.summary.resources or {}).get(resource)
    if fit is None or fit.growth_per_iter is None:
        return Check(name, f"{injected:.3f}/iter", None, False, "not measured (no /proc, or too few iterations)")
    g, ci = fit.growth_per_iter, fit.ci95
    detail = (f"CI [{ci[0]:.3f}, {ci[1]:.3f}], " if ci else "") + f"verdict {fit.verdict}"
    if injected:
        ok = abs(g - injected) <= EXACT and ci is not None and ci[0] > 0
    else:
        ok = abs(g) <= CLEAN_TOLERANCE and fit.verdict == "stable"
    return Check(name, f"{injected:.3f}/iter", g, ok, detail)


Plan = Callable[[str, dict, int, int, Path], RunPlan]


def resource_checks(
    clean: StrategyResult | None, plan: Plan, base: dict, iters: int, warmup: int, out_dir: Path, echo=print
) -> list[Check]:
    """The clean restart run measures 0 for each resource; each leak run measures its leak."""
    checks: list[Check] = []
    if clean is not None:
        found = [resource_check(f"restart [no leak]: {r} growth", clean, r, 0.0) for r in CLEAN]
        checks += found
        for line in progress_lines("restart [no resource leak]", found):
            echo(line)
    for options, expected in LEAKS:
        entry = execute(plan("restart", {**base, **options}, iters, warmup, out_dir)).results[0]
        case = "restart [" + ", ".join(f"{k}={v}" for k, v in options.items()) + "]"
        found = [resource_check(f"{case}: {r} growth", entry, r, g) for r, g in expected.items()]
        checks += found
        for line in progress_lines(case, found):
            echo(line)
    return checks
