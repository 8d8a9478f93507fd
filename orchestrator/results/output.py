"""What `run` and `compare` print: the comparison table, and a few lines after it."""

from __future__ import annotations

import os

from orchestrator.results import drift
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

HEADERS = [
    "strategy",
    "status",
    "iters",
    "TTFT ms (p50)",
    "ITL ms (p50)",
    "tok/s (p50)",
    "load ms",
    "RSS start MB",
    "RSS end MB",
    "peak MB",
    "growth MB/iter",
    "95% CI",
    "verdict",
    "CER/WER",
    "text",
]


def rounded(v, nd=1):
    """Rounded for a table; + 0.0 turns -0.0 into 0.0 (no "-0" anywhere orch prints)."""
    return None if v is None else round(v, nd) + 0.0


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
    rows = []
    for r in result.results:
        s = r.summary or Summary()
        ci = s.growth_ci95
        verdict = str(s.verdict) if s.verdict else None
        if s.verdict is Verdict.PLATEAU:
            verdict = f"plateau from {s.plateau_from}"
        elif s.verdict is None and s.growth_mb_per_iter is None and r.iterations and r.status is not Status.SKIPPED:
            verdict = f"too few iterations ({s.iters_measured or 0}; {MIN_GROWTH_ITERATIONS} needed)"
        rows.append(
            [
                label(r),
                str(r.status),
                s.iters_ok,
                rounded(s.ttft_ms_median),
                rounded(s.itl_ms_median, 2),
                rounded(s.tokens_per_s_median),
                rounded(s.load_ms_median),
                rounded(s.rss_start_mb),
                rounded(s.rss_end_mb),
                rounded(s.rss_peak_mb),
                rounded(s.growth_mb_per_iter, 3),
                f"[{rounded(ci[0], 3):.3f}, {rounded(ci[1], 3):.3f}]" if ci else None,
                verdict,
                _error_rate(s),
                drift.column(s),
            ]
        )
    return rows


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
