"""`orch selftest`'s drift checks: the calibration engine told to change its text from
iteration K on (`drift_at`; the whole text, or one character) must be found as drift at
exactly K, in every strategy; and a clean run (the self-test's leak runs, which change no
text) must never be."""

from __future__ import annotations

from pathlib import Path

from orchestrator.results.checks import Check
from orchestrator.results.model import Status, StrategyResult
from orchestrator.run import strategies as registry
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

DRIFT_AT = 3
DRIFT_ITERS = 6  # enough to see K=3 and three changed iterations after it, quick in every strategy
FAST = {"ttft_ms": 5.0, "token_ms": 1.0}  # only the text matters here


def clean_check(strategy: str, entry: StrategyResult) -> Check:
    """A run that changes no text on purpose: its text must be stable."""
    s = entry.summary
    stable = s.text_stable if s else None
    detail = "" if stable else f"first changed at {s.first_changed_at}" if s and s.first_changed_at else "no text"
    return Check(f"{strategy}: no drift on a clean run", "stable", None, stable is True, detail)


def drift_at_check(strategy: str, mode: str, entry: StrategyResult, iters: int) -> Check:
    """drift_at=K: found at exactly K, with every iteration from K on changed."""
    name = f"{strategy} [drift_at={DRIFT_AT}, drift_mode={mode}]: drift found at"
    s = entry.summary
    if entry.status is not Status.OK or s is None:
        return Check(name, f"iteration {DRIFT_AT}", None, False, entry.error or str(entry.status))
    want_changed = iters - DRIFT_AT + 1
    ok = s.text_stable is False and s.first_changed_at == DRIFT_AT and s.changed_iterations == want_changed
    detail = f"{s.changed_iterations} of {iters} iterations changed (want {want_changed})"
    return Check(name, f"iteration {DRIFT_AT}", s.first_changed_at, ok, detail)


def drift_checks(clean: dict[str, StrategyResult], out_dir: Path, echo=print) -> list[Check]:
    """Per strategy of the calibration engine: no drift in its clean run (from `clean`), and
    drift at exactly DRIFT_AT when told, the modes taking turns across the strategies."""
    checks = [clean_check(strategy, entry) for strategy, entry in clean.items()]
    for n, strategy in enumerate(registry.for_engine("calibration")):
        mode = ("text", "char")[n % 2]
        plan = RunPlan(
            strategies=[strategy],
            iters=DRIFT_ITERS,
            warmup=1,
            engine="calibration",
            engine_options={**FAST, "drift_at": DRIFT_AT, "drift_mode": mode},
            out_dir=out_dir,
        )
        checks.append(drift_at_check(strategy, mode, execute(plan).results[0], DRIFT_ITERS))
    for c in checks:
        echo(f"  {'ok  ' if c.ok else 'MISS'} {c.name}" + ("" if c.ok else f" ({c.detail or c.measured})"))
    return checks
