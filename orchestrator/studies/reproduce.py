"""The study's four experiments (`orch reproduce exp1|exp2|exp3|exp4`,
orchestrator.commands.reproduce) as ready runs on the full-shape random-weight models
(`orch make-test-models --shape full`, models/full/).

Each experiment is a fixed set of strategies, a scenario, models and an iteration count (the
study's); the command builds its plan through `RunPlan.build(PlanInputs)`, checks it as
`orch compare` does, prints what it will run and how long that should take (`describe`),
then runs it through `commands.run.run_and_report` (the same table, run JSON, history and
exit codes).

The time estimate is iterations × seconds per iteration measured on the 2-core 24 GiB
development machine (2 threads, --max-new-tokens 8): the 100-iteration runs on a quiet
machine where there are some (exp2 restart and recreate-destroy, exp3 recreate-destroy),
else shorter runs on the machine shared with another chatllm.cpp run (on the slow side); a
growing strategy is expected to stop at the memory guard (--max-rss-mb) after the iterations
its measured growth allows.
docs/real-scale.md has the runs and the study's numbers beside them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import OrchError
from orchestrator.run.plan import RunPlan
from orchestrator.run.plan_inputs import PlanInputs

REPO = Path(__file__).resolve().parents[2]
DEFAULT_AUDIO = str(REPO / "samples" / "phone-zh.wav")
MODELS_DIR = "models/full"
M06 = "shape-qwen3-asr-0.6b.bin"
M17 = "shape-qwen3-asr-1.7b.bin"
ALIGNER = "shape-qwen3-forced-aligner-0.6b.bin"

# what every experiment runs with unless told otherwise
DEFAULT_THREADS = 2  # the development machine's cores; the study used 6
DEFAULT_MAX_NEW_TOKENS = 8  # random weights rarely emit the end token: bound each request
DEFAULT_MAX_RSS_MB = 6000.0  # recreate grows ~780 MB (0.6B) / ~1.5 GB (1.7B) per iteration
MEASURED_ON = (
    "measured on the 2-core 24 GiB development machine, 2 threads, --max-new-tokens 8, "
    "machine shared with another chatllm.cpp run"
)


@dataclass(frozen=True)
class Cost:
    """One strategy's measured cost in an experiment (MEASURED_ON)."""

    s_per_iter: float  # wall seconds per iteration (a switch iteration: both models)
    start_s: float = 0.0  # worker start and first load, once
    # tree RSS after iteration 1 of a straight line through the measured ones (after a
    # warm-up that grows faster, the line's start, not the first iteration's RSS)
    start_mb: float | None = None
    growth_mb: float = 0.0  # growth per iteration; > 0: the guard may stop it


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    strategies: tuple[str, ...]
    scenario: str
    models: tuple[str, ...]  # file names under --models-dir
    iters: int  # the study's iteration count
    warmup: int  # at the study's count; fewer iterations scale it down (warmup_for)
    language: str | None
    study: str  # what the study published, one line
    cost: dict[str, Cost] = field(default_factory=dict)

    def warmup_for(self, iters: int) -> int:
        """The experiment's warm-up, at most a quarter of the iterations."""
        return min(self.warmup, iters // 4)

    def model_paths(self, models_dir: str) -> list[str]:
        return [os.path.join(models_dir, m) for m in self.models]

    def estimate_s(self, strategies, iters: int, max_rss_mb: float | None) -> tuple[float, dict[str, int]]:
        """Seconds the run should take, and the iterations each strategy is expected to run
        (fewer than `iters` where the guard should stop its growth)."""
        total, expected = 0.0, {}
        for s in strategies:
            c = self.cost.get(s)
            if c is None:
                continue
            n = iters
            if c.growth_mb > 0 and c.start_mb is not None and max_rss_mb:
                n = min(iters, max(1, 1 + math.ceil((max_rss_mb - c.start_mb) / c.growth_mb)))
            expected[s] = n
            total += c.start_s + n * c.s_per_iter
        return total, expected


# Costs: from the runs in docs/real-scale.md ("Experiments"), upstream build; recreate-destroy's
# from the build with the layers.h destroy fix (upstream aborts at its first destroy, so
# there the figure is an upper bound).
EXPERIMENTS: dict[str, Experiment] = {
    e.name: e
    for e in (
        Experiment(
            "exp1",
            "one model, restart() between requests",
            ("restart",),
            "asr",
            (M06,),
            iters=10,
            warmup=2,
            language="Chinese",
            study="in-process RSS 1347 -> 1840 MB over 10 iterations; TTFT 3.6-4.3 s (6 threads)",
            cost={"restart": Cost(s_per_iter=15.0, start_s=4.0, start_mb=822.0)},
        ),
        Experiment(
            "exp2",
            "restart vs re-create vs destroy-and-re-create, one model",
            ("restart", "recreate", "recreate-destroy"),
            "asr",
            (M06,),
            iters=100,
            warmup=10,
            language="Chinese",
            study="100 iterations: restart 0.00 MB/iter, destroy-and-re-create 1.34 MB/iter "
            "(identical TTFT columns for both)",
            cost={
                # restart and recreate-destroy: the 100-iteration run on the fix build, quiet
                "restart": Cost(s_per_iter=1.12, start_s=2.0, start_mb=822.0),
                "recreate": Cost(s_per_iter=16.0, start_s=4.0, start_mb=821.0, growth_mb=779.0),
                "recreate-destroy": Cost(s_per_iter=1.61, start_s=2.0, start_mb=931.0, growth_mb=40.9),
            },
        ),
        Experiment(
            "exp3",
            "0.6B <-> 1.7B switching: re-create, destroy-and-re-create; fresh process as baseline",
            ("fresh-process", "recreate", "recreate-destroy"),
            "switch",
            (M06, M17),
            iters=100,
            warmup=10,
            language="Chinese",
            study="destroy on a layers.h-fix build: plateau ~3.9 GB +-97 MB after ~10 warm-up "
            "iterations, 0.6B -2.81 MB / 1.7B +80.86 MB per switch, TTFT 8.4 s / 16.2 s; "
            "'safe for long-running servers'",
            cost={
                "fresh-process": Cost(s_per_iter=5.6),  # the 100-iteration run: 9:25
                "recreate": Cost(s_per_iter=25.0, start_s=4.0, start_mb=2361.0, growth_mb=2320.0),
                # fix build, the 100-iteration run (quiet): 1728 MB after iteration 1, 14943
                # after 100, 122.9 MB/iteration (a line that starts at 2776; 6000 MB passed in
                # iteration 28)
                "recreate-destroy": Cost(s_per_iter=5.4, start_s=4.0, start_mb=2776.0, growth_mb=122.9),
            },
        ),
        Experiment(
            "exp4",
            "forced aligner: re-create vs restart",
            ("restart", "recreate"),
            "align",
            (ALIGNER,),
            iters=100,
            warmup=10,
            language=None,
            study="forced aligner, re-create vs restart, 100 iterations",
            cost={
                # restart and recreate-destroy: the 100-iteration run on the fix build (timings
                # disturbed at times by other work)
                "restart": Cost(s_per_iter=3.7, start_s=4.0, start_mb=932.0),
                "recreate": Cost(s_per_iter=15.0, start_s=4.0, start_mb=931.0, growth_mb=887.0),
                # not the study's; --strategies adds it (fix build: 34.8 MB per iteration over
                # 100 iterations, iterations 29-100 on a line that starts at 1808 MB)
                "recreate-destroy": Cost(s_per_iter=3.8, start_s=4.0, start_mb=1808.0, growth_mb=34.8),
            },
        ),
    )
}

MAKE_MODELS = "orch make-test-models --shape full"


def missing_models(exp: Experiment, models_dir: str) -> list[str]:
    return [p for p in exp.model_paths(models_dir) if not os.path.isfile(p)]


def check_models(exp: Experiment, models_dir: str) -> None:
    """OrchError (exit 2) naming the missing files and the command that makes them."""
    missing = missing_models(exp, models_dir)
    if missing:
        out = "" if os.path.normpath(models_dir) == os.path.normpath(MODELS_DIR) else f" --out {models_dir}"
        raise OrchError(
            f"{exp.name} needs the full-shape models; missing: {', '.join(missing)}. "
            f"Make them with `{MAKE_MODELS}{out}` (about 6 min and 4.4 GB of memory "
            "for the three), or point --models-dir at them"
        )


def choose_strategies(exp: Experiment, given: str | None) -> tuple[list[str], list[str]]:
    """(strategies, notes): the experiment's own, or --strategies a,b (named in a note when
    they are not the study's set)."""
    if not given:
        return list(exp.strategies), []
    chosen = [s.strip() for s in given.split(",") if s.strip()]
    notes = []
    if chosen != list(exp.strategies):
        notes.append(f"--strategies {','.join(chosen)}: the study's {exp.name} ran {', '.join(exp.strategies)}")
    return chosen, notes


def plan_inputs(exp: Experiment, kw: dict) -> PlanInputs:
    """The experiment as PlanInputs (what `orch compare` would be given)."""
    iters = kw.get("iters") or exp.iters
    strategies, _ = choose_strategies(exp, kw.get("strategies"))
    options = {
        "chatllm_dir": kw.get("chatllm_dir"),
        "threads": kw.get("threads", DEFAULT_THREADS),
        "max_new_tokens": kw.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS),
    }
    return PlanInputs(
        strategies=strategies,
        iters=iters,
        warmup=exp.warmup_for(iters),
        engine="chatllm",
        scenario=exp.scenario,
        models=exp.model_paths(kw.get("models_dir") or MODELS_DIR),
        audio=kw.get("audio") or DEFAULT_AUDIO,
        transcript=kw.get("transcript"),
        language=exp.language if exp.scenario != "align" else None,
        out_dir=Path(kw["out"]) if kw.get("out") else None,
        json_path=Path(kw["json_path"]) if kw.get("json_path") else None,
        max_rss_mb=kw.get("max_rss_mb", DEFAULT_MAX_RSS_MB),
        engine_options={k: v for k, v in options.items() if v is not None},
        progress=kw.get("progress", False),
    )


def _minutes(s: float) -> str:
    return f"{s / 60:.0f} min" if s >= 90 else f"{s:.0f} s"


def describe(exp: Experiment, plan: RunPlan) -> str:
    """What the command will run and how long it should take, printed before it starts."""
    opts = plan.engine_options
    lines = [
        f"{exp.name}: {exp.title}",
        f"  the study: {exp.study}",
        f"  strategies: {', '.join(plan.strategies)} (one after another, each in its own worker)",
        f"  scenario {plan.scenario}; models: {', '.join(plan.models)} (random weights, full shape)",
        f"  audio: {plan.audio}" + (f"; language {plan.language}" if plan.language else ""),
        f"  iterations: {plan.iters} per strategy (warm-up {plan.warmup})"
        + ("" if plan.iters == exp.iters else f"; the study ran {exp.iters}"),
        f"  threads {getattr(opts, 'threads', None)}, --max-new-tokens "
        f"{getattr(opts, 'max_new_tokens', None)}, memory guard "
        + (f"{plan.max_rss_mb:.0f} MB per worker tree" if plan.max_rss_mb else "off"),
        f"  chatllm.cpp: {getattr(opts, 'chatllm_dir', None)}"
        + (f" ({opts.commit})" if getattr(opts, "commit", None) else ""),
    ]
    total, expected = exp.estimate_s(plan.strategies, plan.iters, plan.max_rss_mb)
    stops = [f"{s} ~{n}" for s, n in expected.items() if n < plan.iters]
    unknown = [s for s in plan.strategies if s not in exp.cost]
    if len(unknown) == len(plan.strategies):
        est = f"  estimated time: unknown (no measured figure for {', '.join(unknown)})"
    else:
        est = f"  estimated time: ~{_minutes(total)}"
        if stops:
            est += f" (the guard should stop the growing ones after: {', '.join(stops)} iterations)"
        if unknown:
            est += f"; no measured figure for {', '.join(unknown)}"
    lines.append(est)
    lines.append(f"    ({MEASURED_ON}; other threads, token bounds or machines change it)")
    if "recreate-destroy" in plan.strategies:
        lines.append(
            "    (recreate-destroy: figures from a build with the layers.h destroy fix; upstream "
            "chatllm.cpp 4a4310e aborts at the first destroy, SIGABRT)"
        )
    return "\n".join(lines)
