"""What `run` and `compare` print: the comparison table, and a few lines after it."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from orchestrator.results import drift, figures
from orchestrator.results.alignment import to_srt
from orchestrator.results.model import (
    MIN_GROWTH_ITERATIONS,
    MeanCI,
    RunResult,
    Status,
    StrategyResult,
    Summary,
    Verdict,
)
from orchestrator.results.tabular import render_table


def _verdict(r: StrategyResult, s: Summary) -> str | None:
    if s.verdict is Verdict.PLATEAU:
        return f"plateau from {s.plateau_from}"
    if s.verdict is None and s.growth_mb_per_iter is None and r.iterations and r.status is not Status.SKIPPED:
        return f"too few iterations ({s.iters_measured or 0}; {MIN_GROWTH_ITERATIONS} needed)"
    return str(s.verdict) if s.verdict else None


def _fig(name: str) -> tuple[str, Callable[[StrategyResult, Summary], Any]]:
    """A column of a declared figure: its label, its value rounded as declared."""
    f = figures.get(name)
    return f.label, lambda r, s: f.cell(f.of(s))


def _ci(name: str) -> tuple[str, Callable[[StrategyResult, Summary], Any]]:
    f = figures.get(name)
    return "95% CI", lambda r, s: f.ci_cell(f.ci_of(s))


# the comparison table of `run` and `compare`: (header, cell of a strategy's result)
COLUMNS: list[tuple[str, Callable[[StrategyResult, Summary], Any]]] = [
    ("strategy", lambda r, s: label(r)),
    ("status", lambda r, s: str(r.status)),
    _fig("iters_ok"),
    _fig("ttft_ms_median"),
    _fig("itl_ms_median"),
    _fig("tokens_per_s_median"),
    _fig("core_h_per_audio_h"),
    _fig("load_ms_median"),
    _fig("rss_start_mb"),
    _fig("rss_end_mb"),
    _fig("rss_peak_mb"),
    _fig("growth_mb_per_iter"),
    _ci("growth_mb_per_iter"),
    ("verdict", _verdict),
    ("CER/WER", lambda r, s: _error_rate(s)),
    ("text", lambda r, s: drift.column(s)),
]
HEADERS = [header for header, _ in COLUMNS]


def rounded(v, nd=1):
    """Rounded for a table; + 0.0 turns -0.0 into 0.0 (no "-0" anywhere orch prints)."""
    return figures.rounded(v, nd)


def _error_rate(summary: Summary) -> str | None:
    for value, label in ((summary.cer_mean, "CER"), (summary.wer_mean, "WER")):
        if value is not None:
            return f"{label} {value:.3f}"
    return None


def condense_notes(notes: list[str]) -> list[str]:
    """One line per distinct finding: `fresh-process#1: X` ... `fresh-process#20: X` become
    `X (20 workers: fresh-process#1 ... fresh-process#20)`. The JSON keeps every note."""
    groups: dict[str, list[str]] = {}
    for note in notes:
        worker, sep, what = note.partition(": ")
        key = what if sep and "#" in worker else note
        groups.setdefault(key, []).append(worker if sep and "#" in worker else "")
    out = []
    for what, workers in groups.items():
        if len(workers) == 1:
            out.append(f"{workers[0]}: {what}" if workers[0] else what)
        else:
            out.append(f"{what} ({len(workers)} workers: {workers[0]} ... {workers[-1]})")
    return out


def label(r: StrategyResult) -> str:
    """A row's name: the strategy, with its engine when the run compared engines."""
    return f"{r.engine} {r.strategy}" if r.engine else r.strategy


def result_rows(result: RunResult) -> list[list]:
    return [[cell(r, r.summary or Summary()) for _, cell in COLUMNS] for r in result.results]


def result_table(result: RunResult, fmt: str = "table") -> str:
    return render_table(HEADERS, result_rows(result), fmt)


SWITCH_HEADERS = [
    "strategy",
    "model",
    "iters",
    "load +MB",
    "unload -MB",
    "kept per switch MB",
    "95% CI",
    "load ms (p50)",
    "TTFT ms (p50)",
]


def _mean(block: MeanCI | None):
    return rounded(block.mean) if block else None


def switch_rows(result: RunResult) -> list[list]:
    """Scenario switch, per strategy and model: what a load adds, what its unload gives back,
    what each switch keeps (after_unload - before_load)."""
    rows = []
    for r in result.results:
        for model, m in (r.per_model or {}).items():
            kept = m.kept_per_switch_mb
            rows.append(
                [
                    r.strategy,
                    os.path.basename(model),
                    m.iters,
                    _mean(m.load_overhead_mb),
                    _mean(m.released_at_unload_mb),
                    _mean(kept),
                    f"[{kept.ci95[0]:.1f}, {kept.ci95[1]:.1f}]" if kept else None,
                    rounded(m.load_ms_median),
                    rounded(m.ttft_ms_median),
                ]
            )
    return rows


def switch_table(result: RunResult, fmt: str = "table") -> str | None:
    rows = switch_rows(result)
    return render_table(SWITCH_HEADERS, rows, fmt) if rows else None


RESOURCE_HEADERS = [
    "strategy",
    "resource",
    "start",
    "end",
    "growth/iter",
    "95% CI",
    "verdict",
    "limit",
    "iters to limit",
]


def resource_rows(result: RunResult, moving_only: bool = False) -> list[list]:
    """Per strategy and declared resource (results.figures, kind resource) measured: where it
    started and ended, its growth per iteration with its CI and verdict, and the limit.
    `moving_only`: only resources whose verdict is not `stable` (what the terminal shows)."""
    rows = []
    for r in result.results:
        fits = (r.summary.resources if r.summary else None) or {}
        for f in figures.resources():
            fit = fits.get(f.name)
            if fit is None or (moving_only and fit.verdict in (None, str(Verdict.STABLE))):
                continue
            name = f.name + (f" ({fit.note})" if fit.note else "")
            rows.append(
                [
                    label(r),
                    name,
                    rounded(fit.start, 1),
                    rounded(fit.end, 1),
                    f.cell(fit.growth_per_iter),
                    f.ci_cell(fit.ci95),
                    fit.verdict,
                    rounded(fit.limit, 0),
                    rounded(fit.iters_to_limit, 0),
                ]
            )
    return rows


def resource_table(result: RunResult, fmt: str = "table", moving_only: bool = True) -> str | None:
    """The resources' table; by default only those that moved (none: None, no table)."""
    rows = resource_rows(result, moving_only)
    return render_table(RESOURCE_HEADERS, rows, fmt) if rows else None


def growing_resources(r: StrategyResult, failing: bool = False) -> list[str]:
    """The resources whose verdict is `growing`, said as "threads +2.0 per iteration";
    `failing`: only those whose growth fails the run (threads, fds, maps: figures `fails`)."""
    fits = (r.summary.resources if r.summary else None) or {}
    out = []
    for f in figures.resources():
        if failing and not f.fails:
            continue
        fit = fits.get(f.name)
        if failing and fit is not None and (fit.n or 0) < figures.MIN_FAILING_ITERS:
            continue
        if fit is not None and fit.verdict == str(Verdict.GROWING) and fit.growth_per_iter is not None:
            unit = f.unit.removesuffix("/iter").replace(f.name, "").strip()
            out.append(f"{f.name} {fit.growth_per_iter:+.1f}{' ' + unit if unit else ''} per iteration")
    return out


def resource_lines(result: RunResult) -> list[str]:
    """Under the table: each strategy with a growing resource (a failure for the exit code)."""
    lines = []
    for r in result.results:
        grows = growing_resources(r)
        if grows:
            lines.append(f"{label(r)}: resources growing: {', '.join(grows)}")
    return lines


def stable_but_wide(r, threshold_mb: float | None) -> str | None:
    """A `stable` verdict whose 95% CI still reaches past the growth threshold (a short run,
    or a noisy one) showed no growth but did not rule it out: say so, with the figure."""
    s = r.summary
    if s is None or s.verdict is not Verdict.STABLE or not s.growth_ci95 or threshold_mb is None:
        return None
    high = s.growth_ci95[1]
    if high <= threshold_mb:
        return None
    return (
        f"{r.strategy}: `stable` shows no growth, but does not rule it out: the 95% CI reaches "
        f"{high:+.3f} MB/iter (the threshold is {threshold_mb:g}); more iterations narrow it"
    )


def shrinking_note(r) -> str | None:
    """A `shrinking` verdict, said in words: memory that falls is given back, never a leak."""
    s = r.summary
    if s is None or s.verdict is not Verdict.SHRINKING or s.growth_mb_per_iter is None or not s.growth_ci95:
        return None
    lo, hi = s.growth_ci95
    return (
        f"{r.strategy}: `shrinking`: memory falls {-s.growth_mb_per_iter:.3f} MB/iter "
        f"(95% CI [{lo:+.3f}, {hi:+.3f}]); memory given back is no leak"
    )


def verdict_notes(result: RunResult) -> list[str]:
    """What the verdict column cannot say (run, compare and soak print these under the
    table): a `stable` that does not rule growth out, a `shrinking` in words."""
    threshold = (result.plan.get("thresholds") or {}).get("growth_mb_per_iter")
    notes = (stable_but_wide(r, threshold) or shrinking_note(r) for r in result.results)
    return [n for n in notes if n]


def result_footer(result: RunResult, run_dir) -> str:
    lines = []
    for r in result.results:
        if r.error:
            lines.append(f"{r.strategy}: {r.status}: {r.error.splitlines()[0]}")
        part = r.partial
        if part:
            lines.append(
                f"{r.strategy}: iteration {part.i} was cut off after {part.chunks} chunk(s)"
                + (f", {part.elapsed_s:.1f} s in" if part.elapsed_s else "")
                + " (kept as `partial` in the JSON, out of the statistics)"
            )
        for note in condense_notes(r.teardown):
            lines.append(f"{r.strategy}: teardown: {note}")
        if any(it.streamed is False for it in r.iterations):
            lines.append(
                f"{r.strategy}: output arrived in bursts, not token by token: tokens/s there is not a generation speed"
            )
        if r.alignment:
            a = r.alignment
            lines.append(
                f"{r.strategy}: alignment checks: {a.iters_with_violations} iteration(s) with "
                f"violations ({a.violations_total} in all), {a.parse_failures} unparsable"
            )
        if any(it.extra.get("ttft_includes_load") for it in r.iterations):
            lines.append(f"{r.strategy}: TTFT includes process start and model load (the program gives no ready mark)")
    lines += verdict_notes(result)
    lines += resource_lines(result)
    lines += drift.footer_lines(result)
    lines.append(f"results: {run_dir}  (run.json, <strategy>.jsonl, worker logs)")
    return "\n".join(lines)


def write_srt(result: RunResult, path: str) -> list[str]:
    """The words of each strategy's last aligned iteration; PATH.<strategy>.srt when several."""
    written = []
    aligned = [r for r in result.results if any(it.alignment for it in r.iterations)]
    for r in aligned:
        last = [it for it in r.iterations if it.alignment][-1]
        target = path if len(aligned) == 1 else f"{os.path.splitext(path)[0]}.{r.strategy}.srt"
        with open(target, "w", encoding="utf-8") as f:
            f.write(to_srt((last.alignment or {})["words"]))
        written.append(target)
    return written
