"""The A/B table (`orch ab`, and the report's A/B section): per strategy and figure A, B,
B − A and its 95% CI, the verdict on the strategy's first row."""

from __future__ import annotations

from orchestrator.results import drift, figures, output
from orchestrator.results.model import RunResult
from orchestrator.results.tabular import render_table

# figure -> (label, decimals), as results.figures declares the figures `orch ab` compares
LABELS = {f.name: (f.ab_label or f.label, f.nd if f.ab_nd is None else f.ab_nd) for f in figures.ab_figures()}

AB_HEADERS = ["strategy", "figure", "A", "B", "B − A", "95% CI", "verdict"]


def ab_rows(result: RunResult) -> list[list]:
    """Per strategy and figure: A, B, B − A and its CI; the verdict on the strategy's first row."""
    rows = []
    for entry in result.results:
        ab = entry.ab
        if ab is None:
            continue
        first = True
        for name in LABELS:
            m = ab.metric(name)
            if m is None:
                continue
            label, nd = LABELS[name]
            ci = f"[{output.rounded(m.ci95[0], nd):.{nd}f}, {output.rounded(m.ci95[1], nd):.{nd}f}]" if m.ci95 else None
            rows.append(
                [
                    entry.strategy if first else "",
                    label,
                    output.rounded(m.a, nd),
                    output.rounded(m.b, nd),
                    output.rounded(m.diff, nd),
                    ci,
                    str(ab.verdict) if first and ab.verdict else "",
                ]
            )
            first = False
        a_text = drift.side_column([r.a for r in ab.rounds])
        b_text = drift.side_column([r.b for r in ab.rounds])
        if a_text or b_text:  # the transcript under greedy decoding (orchestrator.results.drift)
            rows.append([entry.strategy if first else "", "text", a_text, b_text, None, None, ""])
            if first:
                rows[-1][-1] = str(ab.verdict) if ab.verdict else ""
            first = False
        if first:  # no figure at all (both sides failed before measuring)
            rows.append([entry.strategy, "-", None, None, None, None, str(ab.verdict) if ab.verdict else ""])
    return rows


def ab_table(result: RunResult, fmt: str = "table") -> str:
    return render_table(AB_HEADERS, ab_rows(result), fmt)
