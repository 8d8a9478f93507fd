"""A retention probe's result (orch retention, orchestrator.studies.retention): each arm's
memory at the marks and growth fits, the verdict; and its few lines for a terminal."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class ArmFigures:
    """One arm's memory at the marks, per measured iteration (MB), and the growth fits."""

    arm: str
    status: str
    iters: list[int]
    after_unload_mb: list[float]
    after_infer_mb: list[float]
    growth_after_unload: tuple[float, float, float] | None  # slope, CI low, CI high
    growth_after_infer: tuple[float, float, float] | None

    @property
    def slope(self) -> float | None:
        return self.growth_after_unload[0] if self.growth_after_unload else None

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class ProbeResult:
    strategy: str
    arms: list[ArmFigures]
    verdict: str
    runs: dict[str, str]  # arm -> run folder
    retained_mb: float | None = None  # plain - trim at after_unload, mean (MB)

    def to_json(self) -> dict:
        return {
            "strategy": self.strategy,
            "verdict": self.verdict,
            "retained_mb": self.retained_mb,
            "runs": self.runs,
            "arms": [a.to_json() for a in self.arms],
        }


def probe_report(result: ProbeResult) -> str:
    """A few lines for a terminal or a doc."""
    kept = (
        f" (plain holds {result.retained_mb:+.1f} MB more than trim after unload)"
        if result.retained_mb is not None
        else ""
    )
    lines = [f"{result.strategy}: {result.verdict}{kept}"]
    for a in result.arms:
        g = a.growth_after_unload
        gi = a.growth_after_infer
        fit = f"{g[0]:+.2f} MB/iter [{g[1]:+.2f}, {g[2]:+.2f}]" if g else "-"
        fit_i = f"{gi[0]:+.2f}" if gi else "-"
        lines.append(
            f"  {a.arm:8} {a.status:12} after_unload {fit}; after_infer {fit_i} MB/iter; "
            f"after_unload MB {a.after_unload_mb}"
        )
    return "\n".join(lines)
