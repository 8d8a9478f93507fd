"""`orch report`: one run as a self-contained HTML page (charts embedded as base64 PNG, no
script, no network: it reads offline and prints), and its comparison table as Markdown or
CSV. Strategies that crashed with few or no iterations are shown as such, not skipped.

Every function takes a RunResult (orchestrator.results.model); every number it rounds goes
through output.rounded, the one rounding that never prints "-0". A soak's run may come with its
key's history on its host (changepoints.Series): the page then draws each series with its
change points marked."""

from __future__ import annotations

import datetime as _dt

from orchestrator.history import changepoints as cp
from orchestrator.history.page import CSS, escape, fact, facts, html_table, img
from orchestrator.results import decision
from orchestrator.results.ab_table import AB_HEADERS, ab_rows
from orchestrator.results.model import Outcome, RunResult, SoakInfo, Status
from orchestrator.results.output import HEADERS, RESOURCE_HEADERS, label, resource_rows, result_rows
from orchestrator.results.runtime_table import (
    RUNTIME_HEADERS,
    host_limits_line,
    is_runtimes,
    runtime_notes,
    runtime_rows,
)
from orchestrator.results.stacks import chain
from orchestrator.results.tabular import render_table


def table_rows(result: RunResult) -> tuple[list[str], list[list]]:
    """The comparison table (the same columns `orch run` prints, rounded by output.rounded;
    `orch compare --engines` prints its runtime table)."""
    if is_runtimes(result):
        return list(RUNTIME_HEADERS), runtime_rows(result)
    return list(HEADERS), result_rows(result)


def render_markdown(result: RunResult) -> str:
    headers, rows = table_rows(result)
    title = f"# {command_of(result)} {result.run_id}\n\n"
    meta = f"engine `{result.engine_name}`, scenario `{result.plan.get('scenario')}`, started {result.started_at}\n\n"
    return title + meta + render_table(headers, rows, "md") + "\n"


def render_csv(result: RunResult) -> str:
    headers, rows = table_rows(result)
    return render_table(headers, rows, "csv") + "\n"


def _flat(d: dict, prefix: str = "") -> dict:
    """Nested maps as dotted keys (options.ttft_ms), so two strategies' infos compare key by key."""
    out: dict = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _engine_info_section(result: RunResult) -> str:
    """What each worker's engine reported, once: the facts every strategy shares in one table,
    and only where strategies differ a row per strategy (not the whole block per strategy)."""
    infos = [(e.strategy, _flat(e.engine_info)) for e in result.results if e.engine_info]
    if not infos:
        return ""
    keys = list(dict.fromkeys(k for _, info in infos for k in info))
    first = infos[0][1]
    shared = [k for k in keys if all(k in info and info[k] == first.get(k) for _, info in infos)]
    differ = [k for k in keys if k not in shared]
    names = [name for name, _ in infos]
    who = names[0] if len(names) == 1 else "every strategy" if len(names) == len(result.results) else ", ".join(names)
    parts = [f'<h3>Engine info</h3><p class="sub">as the engine reported it, for {escape(who)}</p>']
    parts.append(facts({k: first[k] for k in shared}))
    if differ:
        parts.append('<p class="sub">where the strategies differ:</p>')
        rows = [[name] + [fact(info.get(k)) for k in differ] for name, info in infos]
        parts.append(html_table(["strategy", *differ], rows, left=tuple(range(len(differ) + 1))))
    missing = [e.strategy for e in result.results if not e.engine_info]
    if missing:
        parts.append(f'<p class="sub">no engine info from {escape(", ".join(missing))}</p>')
    return "".join(parts)


def _run_line(result: RunResult) -> str:
    """The line under the title: engine, scenario, and what was given (models, audio) only when it was."""
    engine, plan = result.engine, result.plan
    parts = [f"engine <b>{escape(engine.get('name'))}</b>", f"scenario <b>{escape(plan.get('scenario'))}</b>"]
    models = plan.get("models") or sorted({e.model for e in result.results if e.model})
    if models:
        parts.append(f"models {escape(', '.join(models))}")
    if plan.get("audio"):
        length = plan.get("audio_s")
        parts.append(
            f"audio {escape(plan['audio'])}" + (f" ({length:.1f} s)" if isinstance(length, (int, float)) else "")
        )
    parts.append(f"{escape(plan.get('iters'))} iterations, {escape(plan.get('warmup'))} warm-up")
    parts.append(f"started {escape(result.started_at)}, finished {escape(result.finished_at or '-')}")
    return '<p class="sub">' + " · ".join(parts) + "</p>"


def _soak_section(soak: SoakInfo | None) -> str:
    if soak is None:
        return ""
    outcome = soak.outcome
    cls = {Outcome.OK: "ok", Outcome.REGRESSION: "bad", Outcome.FAILED: "bad"}.get(outcome, "") if outcome else ""
    parts = [
        f"<h2>Soak</h2><p>matrix key <code>{escape(soak.matrix_key)}</code>, outcome "
        f'<span class="{cls}">{escape(outcome)}</span>, baseline: '
        f"{escape(', '.join(soak.baseline_run_ids) or 'none (first run of this key)')}</p>"
    ]
    if soak.regressions:
        parts.append("<ul>" + "".join(f'<li class="bad">{escape(r.message)}</li>' for r in soak.regressions) + "</ul>")
    for note in soak.notes:
        parts.append(f'<p class="sub">{escape(note)}</p>')
    return "".join(parts)


def command_of(result: RunResult) -> str:
    """The command that made the run, for the page's title."""
    if is_runtimes(result):
        return "orch compare --engines"
    if result.soak is not None:
        return "orch soak"
    if any(r.ab for r in result.results):
        return "orch ab"
    return "orch compare" if decision.is_comparison(result) else "orch run"


def _decision_section(result: RunResult) -> str:
    """The comparison's decision (orchestrator.results.decision), as the terminal says it."""
    if not decision.is_comparison(result):
        return ""
    d = decision.decide(result)
    rows = [
        [
            r.row,
            "safe" if r.safe else "not safe: " + ", ".join(r.why),
            "; ".join(r.noisy) or "no",
        ]
        for r in d.rows
    ]
    said = decision.lines(d)[len(d.rows) + 1 :]  # the choices (and a noisy probe), in words
    bounds = (
        f"noisy: a row's TTFT, latency or tok/s IQR/median above {decision.NOISY_SPREAD:.0%}, or the host's load "
        f"average above {decision.NOISY_LOAD_PER_CPU:g} per CPU while it ran (docs/decision.md)"
    )
    return (
        "<h2>Decision</h2>"
        + "<ul>"
        + "".join(f"<li>{escape(line.strip())}</li>" for line in said)
        + "</ul>"
        + html_table(["row", "safe", "noisy"], rows, left=(0, 1, 2))
        + f'<p class="sub">{escape(bounds)}</p>'
    )


def _runtimes_section(result: RunResult) -> str:
    """`orch compare --engines` (its table is the comparison above): the host's limits, why
    rows lack figures, and the runtime chart (memory over iterations per runtime; TTFT and RTF bars)."""
    if not is_runtimes(result):
        return ""
    from orchestrator.history import plots  # lazy: matplotlib

    return "".join(
        [
            "<h2>Runtimes</h2>",
            f'<p class="sub">{escape(host_limits_line(result.host_limits))}; % of limit: docs/limits.md</p>',
            "".join(f'<p class="sub">{escape(line)}</p>' for line in runtime_notes(result)),
            img(plots.runtime_chart(result), "memory over iterations per runtime; TTFT and RTF per runtime"),
        ]
    )


def _ab_section(result: RunResult) -> str:
    """An A/B run (orch ab): the figures, the verdicts and why, both sides on one memory chart."""
    entries = [e for e in result.results if e.ab is not None]
    if not entries:
        return ""
    from orchestrator.history import plots  # lazy: matplotlib, only when a page is drawn (render_html)

    options = entries[0].ab.options if entries[0].ab else {}
    parts = [
        f"<h2>A/B</h2><p>side A <code>{escape(options.get('a'))}</code>, side B <code>{escape(options.get('b'))}"
        "</code>; B − A with its 95% CI: growth from each round's Theil–Sen slopes, TTFT and tokens/s "
        "the Hodges–Lehmann shift with its Mann–Whitney CI (docs/ab.md). The comparison table above "
        "shows side B's last round.</p>",
        html_table(AB_HEADERS, ab_rows(result), left=(0, 1, 6)),
    ]
    reasons = [
        f"<li><b>{escape(e.strategy)}</b>: {escape(e.ab.verdict)}: {escape(r)}</li>"
        for e in entries
        if e.ab
        for r in e.ab.reasons
    ]
    if reasons:
        parts.append("<ul>" + "".join(reasons) + "</ul>")
    for e in entries:
        parts.append(img(plots.ab_memory_chart(e), f"A and B memory of {e.strategy}"))
    return "".join(parts)


def _history_section(result: RunResult, history: list | None) -> str:
    """A soak run's key on its host: per strategy (and model) its figures over the runs,
    the change points marked (and listed), this run ringed."""
    if result.soak is None or history is None:
        return ""
    host = result.host.get("hostname")
    where = f"<code>{escape(result.soak.matrix_key)}</code>" + (f" on <b>{escape(host)}</b>" if host else "")
    parts = [
        f"<h2>Soak history</h2><p>{where}: each figure over the key's runs on this host, oldest first "
        "(strategies whose status was ok); a red dashed line and a red point: a change point, the "
        'first run of a lasting change (docs/history.md, "Change points"); ringed: this run.</p>'
    ]
    if not history:
        parts.append('<p class="sub">no runs of this key with a figure in the history</p>')
        return "".join(parts)
    changes = {s.key: cp.changes_in(s) for s in history}
    parts.append(_change_points_table(history, changes))
    parts += _history_charts(history, changes, result.run_id)
    return "".join(parts)


def _change_points_table(history: list, changes: dict) -> str:
    """The change points found in the history's series as a table, or a line saying there are none."""
    found = [c for s in history for c in changes[s.key]]
    if not found:
        runs = max(len(s.points) for s in history)
        return f'<p class="sub">no change point in {runs} run(s) (one needs at least 5 runs on each side)</p>'
    rows = [
        [
            c.strategy + (f" ({c.model})" if c.model else ""),
            cp.METRICS[c.metric][0],
            c.run_id,
            (c.started_at or "").replace("+00:00", "").replace("T", " "),
            f"{c.before:.{cp.METRICS[c.metric][1]}f} → {c.after:.{cp.METRICS[c.metric][1]}f}",
            f"{c.position + 1} of {c.runs}",
            f"{c.p_value:.2g}",
            c.builds,
        ]
        for c in found
    ]
    return html_table(
        [
            "strategy",
            "figure",
            "change point run",
            "started (UTC)",
            "before → after",
            "run",
            "p (Chow)",
            "build",
        ],
        rows,
        left=(0, 1, 2, 3, 7),
    )


def _history_charts(history: list, changes: dict, run_id: str) -> list[str]:
    """Per strategy (and model): a heading, one chart of its figures with the change points
    marked and this run ringed, and the marked runs listed."""
    from orchestrator.history import plots  # lazy: matplotlib, only when a page is drawn (render_html)

    parts = []
    groups: dict[tuple, list] = {}
    for s in history:
        groups.setdefault((s.strategy, s.model), []).append(s)
    for (strategy, model), group in groups.items():
        group.sort(key=lambda s: list(cp.METRICS).index(s.metric))
        marked = [c.run_id for s in group for c in changes[s.key]]
        who = strategy + (f" ({model})" if model else "")
        alt = f"history of {who}: {', '.join(cp.METRICS[s.metric][0] for s in group)}; change points at " + (
            ", ".join(marked) if marked else "none"
        )
        parts.append(f'<h3 id="history-{escape(strategy)}">{escape(who)}</h3>')
        parts.append(img(plots.history_chart(group, changes, run_id), alt))
        if marked:
            parts.append(f'<p class="sub">marked: {escape(", ".join(marked))}</p>')
    return parts


def _attribution_section(result: RunResult) -> str:
    """`orch attribute` / `--attribute`: per attributed strategy, the stacks that keep the growth
    (docs/attribution.md)."""
    entries = [e for e in result.results if e.attribution is not None]
    if not entries:
        return ""
    parts = [
        '<h2>Attribution</h2><p class="sub">Call stacks whose allocations from one iteration are still '
        "live at the end, per iteration (memray --native; resident bytes from /proc/PID/pagemap unless "
        "said otherwise); the rest of the measured growth is unattributed: allocator retention or "
        "non-heap (docs/attribution.md).</p>"
    ]
    for e in entries:
        att = e.attribution
        assert att is not None
        parts.append(f"<h3>{escape(e.strategy)}</h3>")
        if att.error:
            parts.append(f'<p class="bad">not available: {escape(att.error)}</p>')
            continue
        frac = f" ({att.explained_fraction:.0%})" if att.explained_fraction is not None else ""
        parts.append(
            f"<p>measured growth {escape(att.measured_growth_mb_per_iter)} MB/iter; attributed "
            f"{escape(att.attributed_mb_per_iter)} MiB/iter{frac}; unattributed {escape(att.unattributed_mb_per_iter)} "
            f"MiB/iter; {escape(att.weighting)} bytes; iterations {escape(', '.join(map(str, att.iterations)))}; "
            f"traced run {escape(att.wall_s)} s"
            + (f", ×{escape(att.overhead_factor)}" if att.overhead_factor else "")
            + "</p>"
        )
        rows = []
        for st in att.stacks:
            rows.append([st.mib_per_iter, st.requested_mib_per_iter, st.name, chain(st.frames)])
        parts.append(html_table(["MiB/iter", "requested", "where", "stack (callers)"], rows, left=(2, 3)))
        for note in att.notes:
            parts.append(f'<p class="sub">{escape(note)}</p>')
    return "".join(parts)


def _resources_section(result: RunResult) -> str:
    """Threads, fds, maps, mapped files, VmSize, VmHWM per iteration (results.figures, kind
    resource): each one's growth with its CI, verdict and the limit it is heading for."""
    rows = resource_rows(result)
    if not rows:
        return ""
    return (
        '<h2>Resources</h2><p class="sub">Read from outside at each request\'s after-infer mark '
        "(/proc of the worker's process tree); growth per iteration: Theil–Sen slope over the measured "
        "iterations with its 95% CI and verdict, as memory's; iters to limit: at that growth, how many "
        "more iterations reach the limit (docs/resources.md).</p>" + html_table(RESOURCE_HEADERS, rows, left=(0, 1, 6))
    )


def render_html(result: RunResult, history: list | None = None) -> str:
    """The page; `history`: for a soak's run, its key's series on its host
    (changepoints.history_series), drawn with their change points."""
    # lazy: matplotlib, only when a page is drawn (`orch report` prints tables without it)
    from orchestrator.history import plots

    engine, plan, entries = result.engine, result.plan, result.results
    headers, rows = table_rows(result)
    title = f"{command_of(result)} {result.run_id}"
    body = [
        f"<h1>{escape(title)}</h1>",
        _run_line(result),
        "<h2>Comparison</h2>",
        html_table(headers, rows),
        _decision_section(result),
    ]
    problems = [
        f"<li><b>{escape(label(e))}</b>: {escape(e.status)}: {escape(e.error)}</li>"
        for e in entries
        if e.status is not Status.OK and e.error
    ]
    if problems:
        body.append('<ul class="warn">' + "".join(problems) + "</ul>")
    body += [_runtimes_section(result), _resources_section(result), _soak_section(result.soak)]
    body += [_history_section(result, history), _ab_section(result), _attribution_section(result)]
    body.append(
        '<h2>Memory</h2><p class="sub">RSS and USS measured from outside the worker at each '
        "iteration's after-infer mark; shaded: warm-up (left out of the fit); small marks: the "
        "other phase marks (before load, after load, before infer, after unload); with several "
        "models per iteration (scenario switch) the line is the last model's record of each "
        "iteration, and an iteration without it has no point; red: the Theil–Sen growth "
        "slope over the measured iterations with its 95% CI band. Right: the external "
        "sampler's series over time, when recorded, the iteration starts marked (every k-th "
        "when there are many). Nothing is drawn where nothing was measured (a gap, not 0 MB).</p>"
    )
    if not entries:
        body.append('<p class="sub">no strategy results in this run</p>')
    for e in entries:
        name = label(e)
        body.append(f'<h3 id="mem-{escape(name.replace(" ", "-"))}">{escape(name)}</h3>')
        limit = plan.get("max_rss_mb") if e.status is Status.MEMORY_LIMIT else None
        body.append(
            img(plots.memory_chart(e, limit if isinstance(limit, (int, float)) else None), f"memory of {e.strategy}")
        )
    body.append("<h2>Timing</h2>")
    body.append(img(plots.timing_chart(result), "TTFT and tokens/s distributions"))
    body.append("<h2>Engine</h2>" + facts(engine))
    body.append(_engine_info_section(result))
    body.append("<h2>Host</h2>" + facts(result.host))
    body.append("<h2>Plan</h2>" + facts(plan, omit_empty=True))
    generated = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    body.append(f'<p class="sub">schema {escape(result.schema)} · report generated {generated} by orch</p>')
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
