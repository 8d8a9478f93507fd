"""The HTML page of a stream: its lag behind real time over the stream (an inline SVG, no
script), one point per update, and the figures beside it."""

from __future__ import annotations

import html
import json
from pathlib import Path

W, H, PAD = 800, 300, 40


def _svg(points: list[tuple[float, float]], chunk_s: float) -> str:
    if not points:
        return "<p>no updates</p>"
    x_max = max(p[0] for p in points) or 1.0
    y_max = max(max(p[1] for p in points), chunk_s) * 1.1 or 1.0

    def xy(x: float, y: float) -> str:
        return f"{PAD + x / x_max * (W - 2 * PAD):.1f},{H - PAD - y / y_max * (H - 2 * PAD):.1f}"

    line = " ".join(xy(x, y) for x, y in points)
    chunk = f'<line x1="{PAD}" x2="{W - PAD}" y1="{xy(0, chunk_s).split(",")[1]}" y2="{xy(0, chunk_s).split(",")[1]}" stroke="#aaa" stroke-dasharray="4"/>'
    return (
        f'<svg width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect x="{PAD}" y="{PAD}" width="{W - 2 * PAD}" height="{H - 2 * PAD}" fill="none" stroke="#ccc"/>{chunk}'
        f'<polyline points="{line}" fill="none" stroke="#c33" stroke-width="1.5"/>'
        f'<text x="{PAD}" y="{H - 8}" font-size="12">stream position (s), 0 to {x_max:.1f}</text>'
        f'<text x="4" y="{PAD - 8}" font-size="12">lag behind real time (s), 0 to {y_max:.2f}; dashed: one chunk</text></svg>'
    )


def write_html(result: dict, path: str | Path) -> None:
    """The page: the lag of every update against its stream position."""
    points = [(u["arrival_s"], u["lag_s"]) for u in result["updates"]]
    st = result["stream"]
    title = f"orch stream {result['run_id']}: {st['policy']}, {st['simulation']}"
    body = json.dumps(result["figures"], indent=1, ensure_ascii=False)
    Path(path).write_text(
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f"{_svg(points, float(st['chunk_s']))}<h2>Figures</h2><pre>{html.escape(body)}</pre>",
        encoding="utf-8",
    )
