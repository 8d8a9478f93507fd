"""The table of `orch compare --engines` (one row per engine × strategy) and the lines under
it: the host's measured limits, and why a row has no figures. The HTML report shows the
same rows (orchestrator.history.report)."""

from __future__ import annotations

import statistics

from orchestrator.results import drift, figures
from orchestrator.results.limits import streamed, streamed_tokens_per_s
from orchestrator.results.model import HostLimits, RunResult, Status, StrategyResult, Summary, Verdict
from orchestrator.results.output import rounded
from orchestrator.results.tabular import render_table

RUNTIME_HEADERS = [
    "engine",
    "strategy",
    "status",
    figures.get("load_ms_median").header,
    figures.get("ttft_ms_median").header,
    figures.get("rtf_median").header,
    figures.get("tokens_per_s_median").header,
    figures.get("rss_peak_mb").header,
    "steady MB",
    figures.get("growth_mb_per_iter").header,
    "95% CI",
    "verdict",
    "text",
    "streamed",
    "decode limit tok/s",
    "% of limit",
    "enc+prefill GFLOP/s",
    "% of peak",
    figures.get("core_h_per_audio_h").header,
]


def is_runtimes(result: RunResult) -> bool:
    """A result of `orch compare --engines` (its entries name their engine)."""
    return any(e.engine for e in result.results)


def steady_rss_mb(entry: StrategyResult) -> float | None:
    """The median RSS after each measured request: where memory sits while the engine serves."""
    values = [it.rss_mb for it in entry.memory_series() if it.rss_mb is not None]
    return statistics.median(values) if values else None


def _verdict(s: Summary) -> str | None:
    if s.verdict is Verdict.PLATEAU:
        return f"plateau from {s.plateau_from}"
    return str(s.verdict) if s.verdict else None


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def runtime_row(e: StrategyResult) -> list:
    s = e.summary or Summary()
    lim = e.limits
    fig = figures.get
    growth = fig("growth_mb_per_iter")
    return [
        e.engine,
        e.strategy,
        str(e.status),
        fig("load_ms_median").cell(s.load_ms_median),
        fig("ttft_ms_median").cell(s.ttft_ms_median),
        fig("rtf_median").cell(s.rtf_median),
        fig("tokens_per_s_median").cell(streamed_tokens_per_s(e)),
        fig("rss_peak_mb").cell(s.rss_peak_mb),
        rounded(steady_rss_mb(e)),
        growth.cell(growth.of(s)),
        growth.ci_cell(growth.ci_of(s)),
        _verdict(s),
        drift.column(s),
        _yes_no(streamed(e)),
        rounded(lim.decode_limit_tok_s) if lim else None,
        rounded(lim.decode_pct) if lim else None,
        rounded(lim.encode_prefill_gflops, 2) if lim else None,
        rounded(lim.encode_prefill_pct) if lim else None,
        fig("core_h_per_audio_h").cell(s.core_h_per_audio_h),
    ]


def runtime_rows(result: RunResult) -> list[list]:
    return [runtime_row(e) for e in result.results]


def runtime_table(result: RunResult, fmt: str = "table") -> str:
    return render_table(RUNTIME_HEADERS, runtime_rows(result), fmt)


def host_limits_line(limits: HostLimits | None) -> str:
    if limits is None:
        return "host limits: not measured (--no-limits)"
    if limits.error:
        return f"host limits: none ({limits.error}); no % of limit"
    return (
        f"host limits: memory bandwidth {limits.bandwidth_gb_s:.1f} GB/s (a {limits.copy_mb} MB copy, best of "
        f"{limits.repeats}{_median_spread(limits.bandwidth_median_gb_s, limits.bandwidth_spread)}), "
        f"matrix multiply {limits.matmul_gflops:.1f} GFLOP/s (float32 {limits.matmul_n}², "
        f"{limits.threads} thread(s), {limits.blas or 'numpy BLAS'}"
        f"{_median_spread(limits.matmul_median_gflops, limits.matmul_spread)})"
    )


def _median_spread(median: float | None, spread: float | None) -> str:
    """ "; median M, spread S%" (the probe's own runs), "" for a probe from before they were kept."""
    if median is None:
        return ""
    return f"; median {median:.1f}" + (f", spread {spread:.0%} IQR/median" if spread is not None else "")


def runtime_notes(result: RunResult) -> list[str]:
    """One line per row that is not ok (why), and per row whose limits lack a figure (why)."""
    out = []
    for e in result.results:
        if e.status is not Status.OK and e.error:
            out.append(f"{e.engine} {e.strategy}: {e.status}: {e.error.splitlines()[0]}")
        elif e.limits is not None and e.limits.note:
            out.append(f"{e.engine} {e.strategy}: % of limit: {e.limits.note}")
    return out
