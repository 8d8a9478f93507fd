"""`orch report` of a load run (orchestrator.results.load_run.LoadRun): a self-contained HTML
page (charts embedded, no script, no network) with the levels' table, latency percentiles
against the rate, throughput against the rate and memory against the requests served; the
levels' table as Markdown or CSV. `orch report` hands a load run here (commands/history.py)."""

from __future__ import annotations

import datetime as _dt

from orchestrator.history.page import CSS, escape, facts, html_table, img
from orchestrator.history.tables import RUN_LEVEL_HEADERS, level_notes, run_level_rows
from orchestrator.results.load_run import MIN_GROWTH_REQUESTS, LoadRun
from orchestrator.results.tabular import render_table

# the levels' table has many columns: smaller, and scrolled sideways rather than cut
WIDE_CSS = ".wide{overflow-x:auto} .wide table{font-size:.74em} .wide th{white-space:normal}\n"


def table_rows(run: LoadRun) -> tuple[list[str], list[list]]:
    return list(RUN_LEVEL_HEADERS), run_level_rows(run)


def render_markdown(run: LoadRun) -> str:
    headers, rows = table_rows(run)
    plan = run.plan
    meta = (
        f"engine `{run.engine_name}`, strategy `{run.strategy}`, {run.workers} worker(s), "
        f"SLO `{plan.get('slo') or '-'}`, started {run.started_at}\n\n"
    )
    notes = "".join(f"- **{level}**: {note}\n" for level, note in level_notes(run))  # under the table
    table = render_table(headers, rows, "md") + "\n"
    return f"# orch load {run.run_id}\n\n" + meta + table + (f"\n{notes}" if notes else "")


def render_csv(run: LoadRun) -> str:
    headers, rows = table_rows(run)
    return render_table(headers, rows, "csv") + "\n"


def _memory_table(run: LoadRun) -> str:
    rows = [
        [lv.arrivals, m.who, round(m.mb_per_1000, 3), f"[{m.ci_low:+.3f}, {m.ci_high:+.3f}]", m.requests, m.samples]
        if m.enough
        else [lv.arrivals, m.who, "too few requests", f"({MIN_GROWTH_REQUESTS} needed)", m.requests, m.samples]
        for lv in run.levels
        for m in lv.memory
    ]
    if not rows:
        return '<p class="sub">no memory fit (fresh-process, or too few requests in a level)</p>'
    return html_table(["level", "worker", "MB per 1000 requests", "95% CI", "requests", "samples"], rows, (0, 1))


def _soak_block(run: LoadRun) -> str:
    if run.soak is None:
        return ""
    outcome = run.soak.outcome
    cls = "ok" if outcome is not None and outcome.value == "ok" else "bad"
    parts = [
        f'<h2>Soak</h2><p>matrix key <code>{escape(run.soak.matrix_key)}</code>, outcome <span class="{cls}">'
        f"{escape(outcome)}</span></p>"
    ]
    if run.alarms:
        parts.append("<ul>" + "".join(f'<li class="bad">{escape(a.message)}</li>' for a in run.alarms) + "</ul>")
    for note in run.soak.notes:
        parts.append(f'<p class="sub">{escape(note)}</p>')
    return "".join(parts)


def _warnings(run: LoadRun) -> str:
    """What went wrong, as a list: invalid and saturated levels, levels short of their floor
    (`too short for its claims: ...`), the error, Ctrl-C."""
    notes = [f"<li><b>{escape(level)}</b>: {escape(note)}</li>" for level, note in level_notes(run)]
    if run.error:
        notes.append(f"<li>error: {escape(run.error)}</li>")
    if run.interrupted:
        notes.append("<li>interrupted (Ctrl-C): queued and running requests of the last level were cancelled</li>")
    return '<ul class="warn">' + "".join(notes) + "</ul>" if notes else ""


def render_html(run: LoadRun) -> str:
    from orchestrator.history import load_plots  # lazy: matplotlib, only when a page is drawn

    plan = run.plan
    title = f"orch load {run.run_id}"
    amount = run.level_length
    line = (
        f"engine <b>{escape(run.engine_name)}</b> · strategy <b>{escape(run.strategy)}</b> × {escape(run.workers)} worker(s) · "
        f"{escape(amount)} a level, {escape(plan.get('warmup_requests') or 0)} warm-up · SLO <code>{escape(plan.get('slo') or '-')}"
        f"</code> · status <b>{escape(run.status)}</b> · started {escape(run.started_at)}, finished {escape(run.finished_at or '-')}"
    )
    rate = run.max_sustainable_rate
    sustained = (
        f"max sustainable rate <b>{rate:g} req/s</b>"
        if rate is not None
        else f"max sustainable rate: {escape(run.max_rate_text())}"
    )
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="sub">{line}</p>',
        f"<p>{sustained}: every level up to it valid, not saturated, no request failed, timed out or "
        "dropped, and under the SLO at least 90% of its requests in it.</p>",
        "<h2>Levels</h2>",
    ]
    headers, rows = table_rows(run)
    body.append(f'<div class="wide">{html_table(headers, rows)}</div>')
    body += [w for w in (_warnings(run),) if w]
    body.append(_soak_block(run))
    body.append(
        '<h2>Latency</h2><p class="sub">Per level, percentiles over its measured requests (warm-up left out; '
        "linear interpolation between ranks), from when the request arrived in the queue: latency to the last "
        "chunk, TTFT to the first. Dotted: the SLO's bounds.</p>"
    )
    body.append(img(load_plots.latency_chart(run), "latency percentiles against the rate"))
    body.append(
        '<h2>Throughput</h2><p class="sub">Ok requests per second over each level\'s span (first send to last '
        "end), goodput: those meeting every SLO bound. Below the offered diagonal the service is not keeping up.</p>"
    )
    body.append(img(load_plots.throughput_chart(run), "throughput and goodput against the rate"))
    body.append(
        '<h2>Memory</h2><p class="sub">Each worker\'s process tree sampled from outside at the sampling rate, '
        "against how many requests had finished; Theil–Sen slope × 1000 with its 95% CI, per worker and for "
        "the pool (the sum of every worker's latest sample).</p>"
    )
    body.append(img(load_plots.memory_chart(run), "memory against requests served"))
    body.append(_memory_table(run))
    body.append("<h2>Engine</h2>" + facts(run.engine))
    body.append("<h2>Host</h2>" + facts(run.host))
    body.append("<h2>Plan</h2>" + facts(plan, omit_empty=True))
    for note in run.notes:
        body.append(f'<p class="sub">note: {escape(note)}</p>')
    generated = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    body.append(f'<p class="sub">schema {escape(run.schema)} · report generated {generated} by orch</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}{WIDE_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
