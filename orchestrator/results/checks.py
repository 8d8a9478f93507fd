"""The self-test's checks (orch selftest, orchestrator.studies.selftest): injected vs.
measured, pass, fail, inconclusive or skipped; the lines it prints as it goes, its table and
its closing tally."""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.results.tabular import render_table


@dataclass
class Check:
    name: str
    injected: str
    measured: float | None
    ok: bool
    detail: str = ""
    skipped: bool = False  # not run (a tool missing): neither a pass nor a failure
    inconclusive: bool = False  # the host was too busy to judge it: neither a pass nor a failure

    @property
    def failed(self) -> bool:
        return not self.ok and not self.inconclusive


def result(c: Check) -> str:
    return "skipped" if c.skipped else "pass" if c.ok else "inconclusive" if c.inconclusive else "FAIL"


def tally(checks: list[Check]) -> str:
    """The closing line: '26 passed, 0 failed', plus ', 1 inconclusive' when the host was too
    busy to judge a check and ', 1 skipped' when a check did not run."""
    skipped = sum(c.skipped for c in checks)
    unsure = sum(c.inconclusive for c in checks)
    failed = sum(c.failed for c in checks)
    line = f"{len(checks) - failed - skipped - unsure} passed, {failed} failed"
    if unsure:
        line += f", {unsure} inconclusive (host busy: run again on a quieter host to judge them)"
    return line + (f", {skipped} skipped" if skipped else "")


def progress_lines(case: str, checks: list[Check]) -> list[str]:
    """`ok` and the case's checks when all passed; else a line per check that did not, named."""
    if all(c.ok for c in checks):
        return [f"  ok   {case}: " + ", ".join(c.name.split(": ", 1)[-1] for c in checks)]
    lines = []
    for c in checks:
        if c.inconclusive:
            lines.append(f"  ??   {c.name}: inconclusive ({c.detail})")
        elif not c.ok:
            got = "nothing" if c.measured is None else f"{c.measured:.3f}"
            lines.append(
                f"  MISS {c.name}: measured {got}, injected {c.injected}" + (f" ({c.detail})" if c.detail else "")
            )
    return lines


def checks_table(checks: list[Check], fmt: str) -> str:
    rows = [
        [c.name, c.injected, None if c.measured is None else round(c.measured, 3), result(c), c.detail] for c in checks
    ]
    return render_table(["check", "injected", "measured", "result", "detail"], rows, fmt)
