"""One matrix cell as a soak ran it (`CellRun`): made by orchestrator.studies.soak, printed
by orchestrator.history.soak_output and counted in the Prometheus file (history.prometheus)."""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.results.load_run import LoadRun
from orchestrator.results.model import Outcome, Regression, RunResult


@dataclass
class CellRun:
    """One matrix cell as this soak ran it: what is printed, and what the Prometheus file says."""

    soak: str  # the soak's name
    matrix_key: str
    result: RunResult | None = None  # None: the cell could not start, or the harness raised
    load: LoadRun | None = None  # a load cell's run (studies/soak_load.py); its alarms are `regressions`
    outcome: Outcome = Outcome.FAILED
    regressions: list[Regression] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    finished: float | None = None  # Unix time
    last_success: float | None = None  # Unix time of the key's last ok run, None if never
    # change points this run brought to its key's series (changepoints.ChangePoint), unless
    # --accept; None: not looked for (the cell did not run)
    changes: list | None = None
    # --attribute after an alarm: what `orch attribute` printed for each growing strategy
    attribution: list[str] = field(default_factory=list)
