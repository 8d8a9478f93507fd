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
    # and must sit at least this far above where the series started
    plateau_min_rise_mb: float = 1.0


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
    progress: bool = False

    @property
    def run_dir(self) -> Path:
        return Path(self.out_dir) / self.run_id

    def model_label(self) -> str | None:
        if self.models:
            return ",".join(os.path.basename(m) for m in self.models)
        return None

    def transcript_text(self) -> str | None:
        """The forced-alignment transcript (scenario align): --transcript or X.txt beside X.wav."""
        if self.scenario != "align":
            return None
        path = self.transcript
        if not path and self.audio:
            sidecar = Path(self.audio).with_suffix(".txt")
            path = str(sidecar) if sidecar.exists() else None
        return Path(path).read_text(encoding="utf-8").strip() if path else None

    def describe(self, audio_s: float | None = None) -> dict:
        return {"strategies": list(self.strategies), "iters": self.iters, "warmup": self.warmup,
                "scenario": self.scenario, "models": list(self.models), "audio": self.audio,
                "audio_s": audio_s, "reference": self.reference, "transcript": self.transcript,
                "language": self.language, "iter_timeout": self.iter_timeout,
                "sample_hz": self.sample_hz, "thresholds": vars(self.thresholds)}
