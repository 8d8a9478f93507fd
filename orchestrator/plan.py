"""What a run is asked to do: one plain data object shared by `run`, `compare`, `selftest`
and `soak`, so every entry point drives the harness the same way."""

from __future__ import annotations

import datetime as _dt
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

STRATEGIES = ("restart", "recreate", "fresh-process", "cli")
# strategies that only some engines can run (chatllm.cpp's interactive `main`, the
# bindings' two ways of re-creating a model)
EXTRA_STRATEGIES = ("cli-interactive", "recreate-destroy")
SCENARIOS = ("asr", "switch", "align")
ENGINES = ("calibration", "chatllm")


def new_run_id(now: _dt.datetime | None = None) -> str:
    """Sortable and unique enough for two cron runs started in the same second."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


@dataclass
class Thresholds:
    """Verdict thresholds (MB = MiB throughout orch)."""

    # below this growth per iteration a strategy is `stable` even if the CI excludes 0
    growth_mb_per_iter: float = 0.1
    # a plateau needs at least this many (and this share of) post-warm-up iterations flat
    plateau_min_tail: int = 5
    plateau_min_tail_share: float = 0.3


@dataclass
class RunPlan:
    strategies: list[str]
    iters: int = 10
    warmup: int = 2
    engine: str = "calibration"
    # engine-specific options, passed to the worker as they are (see workers.engines)
    engine_options: dict = field(default_factory=dict)
    scenario: str = "asr"
    # for scenario `switch`: the models loaded in turn; otherwise [model] or []
    models: list[str] = field(default_factory=list)
    audio: str | None = None
    reference: str | None = None  # reference transcript file (quality scoring)
    transcript: str | None = None  # forced-alignment input transcript
    language: str | None = None
    out_dir: Path = Path("orch-results")
    run_id: str = field(default_factory=new_run_id)
    iter_timeout: float = 120.0
    sample_hz: float = 20.0
    thresholds: Thresholds = field(default_factory=Thresholds)
    json_path: Path | None = None
    # run strategies at the same time (never by default: they would share the CPU)
    parallel: bool = False
    progress: bool = False

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.run_id

    def model_label(self) -> str | None:
        if self.models:
            return ",".join(os.path.basename(m) for m in self.models)
        return None
