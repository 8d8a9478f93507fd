"""What every orch HTML page shares (the run report, history/report.py; the load report,
history/load_report.py): the style sheet, escaping, tables, key/value facts, embedded images,
and the two chart helpers every chart module uses (a PNG of a figure, a note on empty axes).
Matplotlib is not imported here: `png` and `note` take its objects."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from orchestrator.results.model import Status, Verdict

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0} th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left} .sub{color:#666;font-size:.9em}
.bad{color:#b00020;font-weight:600} .ok{color:#1b7f2a} .warn{color:#a65e00;font-weight:600}
.scroll{overflow-x:auto;max-width:100%} th{white-space:normal;vertical-align:bottom}
img{max-width:100%;height:auto;display:block;margin:.4em 0 1em} pre{background:#f7f7f7;padding:8px;white-space:pre-wrap;font-size:.8em}
.facts td:first-child{text-align:left;color:#555} .facts td{text-align:left}
"""

# table cells drawn in red: a status that is a failure, a growing verdict
BAD_CELLS = frozenset({str(s) for s in Status if not s.fine} | {str(Verdict.GROWING)})

DPI = 100  # the charts' resolution


def escape(v) -> str:
    return html.escape("" if v is None else str(v))


def img(png_bytes: bytes, alt: str) -> str:
    """An image embedded in the page (base64 PNG: the page needs no other file)."""
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png_bytes).decode("ascii")}">'


def html_table(headers, rows, left=(0,)) -> str:
    """A table in a box that scrolls sideways when wider than the page (never off its edge);
    columns in `left` aligned left, failure cells (BAD_CELLS) in red, None as -."""
    out = ['<div class="scroll"><table><thead><tr>']
    out += [f'<th class="{"l" if k in left else ""}">{escape(h)}</th>' for k, h in enumerate(headers)]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>")
        for k, v in enumerate(row):
            cls = ["l"] if k in left else []
            if isinstance(v, str) and v in BAD_CELLS:
                cls.append("bad")
            out.append(f'<td class="{" ".join(cls)}">{"-" if v is None else escape(v)}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def fact(v) -> str:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else "" if v is None else str(v)


def _empty(v) -> bool:
    return v is None or v == "" or (isinstance(v, (list, dict)) and not v)


def facts(d: dict | None, omit_empty: bool = False) -> str:
    """Key/value rows; `omit_empty`: leave out what was not given (None, "", [], {})."""
    items = [(k, v) for k, v in (d or {}).items() if not (omit_empty and _empty(v))]
    if not items:
        return '<p class="sub">none recorded</p>'
    rows = [f"<tr><td>{escape(k)}</td><td>{escape(fact(v))}</td></tr>" for k, v in items]
    return '<table class="facts">' + "".join(rows) + "</table>"


def png(fig: Any) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def note(ax: Any, text: str) -> None:
    """Empty axes that say why (nothing measured), with no ticks."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=11, color="#555")
    ax.set_xticks([])
    ax.set_yticks([])
