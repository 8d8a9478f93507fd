"""Transcript drift: under greedy decoding the same audio gives the same text, so a request
whose text differs from the strategy's first one, or from a fresh process's, shows state
carried over between requests (a cache `restart()` did not clear, a sampler or tokenizer
state, a buffer reused): a correctness bug, as a crash is.

Every finished iteration is compared, warm-up included (a text has no warm-up; the first
request after a load is the very one a carried-over state would differ from), each with
the first iteration of the same model (scenario switch loads several)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Protocol

from orchestrator.results.model import IterationRecord, Regression, RunResult, StrategyResult, Summary

BASELINE = "fresh-process"  # a new process per request: nothing can carry over


def text_of(it: IterationRecord) -> str:
    """The engine's output as compared: its raw text without surrounding whitespace (the
    display text adds zh-TW and ITN, which cannot add drift)."""
    return (it.text_raw or "").strip()


def edit_distance(a: str, b: str) -> int:
    """Characters inserted, deleted or replaced (Levenshtein), through rapidfuzz (jiwer's)."""
    from rapidfuzz.distance import Levenshtein

    return int(Levenshtein.distance(a, b))


def first_texts(iterations: list[IterationRecord]) -> dict[str | None, IterationRecord]:
    """The first finished iteration of each model: what the later ones are compared with."""
    firsts: dict[str | None, IterationRecord] = {}
    for it in sorted(iterations, key=lambda it: it.i):
        firsts.setdefault(it.model, it)
    return firsts


@dataclass
class TextChange:
    """One iteration whose text is not the one it is compared with (for the footer)."""

    strategy: str
    against: str  # "its iteration N" or "fresh-process's iteration N"
    i: int
    expected: str
    got: str


def summarize(summary: Summary, iterations: list[IterationRecord], decoding: str | None) -> None:
    """The summary's drift fields (None when sampled, no text, or one iteration per model)."""
    summary.text_stable = summary.first_changed_at = summary.changed_iterations = None
    summary.edit_distance_mean = None
    if decoding not in (None, "greedy") or not any(text_of(it) for it in iterations):
        return
    firsts = first_texts(iterations)
    distances: dict[str, int] = {}  # per distinct text: a drifting run has few
    changed: set[int] = set()
    compared: list[int] = []
    for it in iterations:
        first = firsts[it.model]
        if it is first:
            continue
        text = text_of(it)
        if text not in distances:
            distances[text] = edit_distance(text_of(first), text) if text != text_of(first) else 0
        compared.append(distances[text])
        if distances[text]:
            changed.add(it.i)
    if not compared:
        return
    summary.text_stable = not changed
    summary.first_changed_at = min(changed) if changed else None
    summary.changed_iterations = len(changed)
    summary.edit_distance_mean = sum(compared) / len(compared)


def compare_with_baseline(result: RunResult) -> None:
    """`matches_baseline` of every strategy in a greedy run where fresh-process finished
    iterations: whether each of its texts is fresh-process's first text of that model."""
    base = result.result(BASELINE)
    greedy = result.plan.get("decoding", "greedy") == "greedy"
    firsts = first_texts(base.iterations) if base and greedy else {}
    for r in result.results:
        if r.summary is None:
            continue
        its = [it for it in r.iterations if it.model in firsts]
        if r.strategy == BASELINE or not its or not any(text_of(it) for it in its):
            r.summary.matches_baseline = None
            continue
        r.summary.matches_baseline = all(text_of(it) == text_of(firsts[it.model]) for it in its)


def drifted(r: StrategyResult) -> bool:
    s = r.summary
    return s is not None and (s.text_stable is False or s.matches_baseline is False)


def drifted_strategies(result: RunResult) -> list[str]:
    """The strategies whose text changed: a failure for the exit code, as a crash is."""
    return [r.strategy for r in result.results if drifted(r)]


class DriftFields(Protocol):
    """A summary, or a stored strategy's columns (history/store.py)."""

    text_stable: bool | None
    first_changed_at: int | None
    changed_iterations: int | None
    matches_baseline: bool | None


def column(s: DriftFields | None) -> str | None:
    """The `text` column of the comparison table and of `orch history`."""
    if s is None:
        return None
    if s.text_stable is False:
        return f"changed at {s.first_changed_at} ({s.changed_iterations} iters)"
    if s.matches_baseline is False:
        return f"differs from {BASELINE}"
    if s.text_stable:
        return "stable"
    return None


def regression(r: StrategyResult) -> Regression | None:
    """A soak's alarm (kind `drift`) when the strategy's text changed: in every run it
    happens in, baseline or not: a changed text is wrong whatever came before."""
    s = r.summary
    if s is None or not drifted(r):
        return None
    name = f"{r.strategy} ({r.model})" if r.model else r.strategy
    if s.text_stable is False:
        message = (
            f"{name}: transcript changed under greedy decoding from iteration {s.first_changed_at} "
            f"({s.changed_iterations} iteration(s); mean edit distance {s.edit_distance_mean:.1f} characters)"
        )
    else:
        message = f"{name}: transcript differs from {BASELINE}'s under greedy decoding"
    return Regression(
        kind="drift",
        strategy=r.strategy,
        model=r.model,
        message=message,
        first_changed_at=s.first_changed_at,
        changed_iterations=s.changed_iterations,
        matches_baseline=s.matches_baseline,
    )


def first_changes(result: RunResult) -> list[TextChange]:
    """Per drifting strategy, the first iteration whose text changed: against its own first
    text, else against fresh-process's."""
    base = result.result(BASELINE)
    base_firsts = first_texts(base.iterations) if base else {}
    out = []
    for r in result.results:
        s = r.summary
        if s is None:
            continue
        firsts = first_texts(r.iterations)
        if s.text_stable is False:
            it = next(it for it in sorted(r.iterations, key=lambda x: x.i) if it.i == s.first_changed_at)
            first = firsts[it.model]
            if text_of(it) == text_of(first):  # scenario switch: another model changed at this i
                it = next(
                    x for x in r.iterations if x.i == s.first_changed_at and text_of(x) != text_of(firsts[x.model])
                )
                first = firsts[it.model]
            out.append(TextChange(r.strategy, f"its iteration {first.i}", it.i, text_of(first), text_of(it)))
        elif s.matches_baseline is False:
            it = next(
                it
                for it in sorted(r.iterations, key=lambda x: x.i)
                if it.model in base_firsts and text_of(it) != text_of(base_firsts[it.model])
            )
            first = base_firsts[it.model]
            out.append(TextChange(r.strategy, f"{BASELINE}'s iteration {first.i}", it.i, text_of(first), text_of(it)))
    return out


def short_diff(a: str, b: str, context: int = 12, width: int = 160) -> str:
    """A character-level diff of two texts on one line: `…same[-removed-]{+added+}same…`,
    each change with a little context, cut at `width` characters."""
    ops = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    parts: list[str] = []
    for n, (op, i1, i2, j1, j2) in enumerate(ops):
        if op != "equal":
            parts.append((f"[-{a[i1:i2]}-]" if i2 > i1 else "") + (f"{{+{b[j1:j2]}+}}" if j2 > j1 else ""))
            continue
        same = a[i1:i2]
        head = same[:context] + ("…" if len(same) > context else "")  # after a change
        tail = ("…" if len(same) > context else "") + same[-context:]  # before a change
        if n == 0:
            parts.append(tail)
        elif n == len(ops) - 1:
            parts.append(head)
        else:
            parts.append(same if len(same) <= 2 * context else same[:context] + "…" + same[-context:])
    line = "".join(parts)
    return line if len(line) <= width else line[: width - 1] + "…"


def footer_lines(result: RunResult) -> list[str]:
    """Under the table: each drifting strategy's first changed iteration and a diff."""
    lines = []
    for change in first_changes(result):
        lines.append(
            f"{change.strategy}: text changed at iteration {change.i} (against {change.against}): "
            f"{short_diff(change.expected, change.got)}"
        )
    return lines


# ------------------------------------------------------------------ orch ab: a side that drifts
def side_changes(entries: list[StrategyResult | None]) -> list[str]:
    """One side's rounds whose text changed, each as `round N: changed at K` (or `differs
    from fresh-process`); entries are the side's results, one per round."""
    out = []
    for n, e in enumerate(entries, 1):
        if e is not None and drifted(e):
            out.append(f"round {n}: {column(e.summary)}")
    return out


def side_column(entries: list[StrategyResult | None]) -> str | None:
    """What `orch ab`'s table shows for one side's text: stable in every round, the rounds
    whose text changed, or None when no round says (sampled, no text)."""
    changes = side_changes(entries)
    if changes:
        return "; ".join(changes)
    known = [e for e in entries if e is not None and e.summary is not None and e.summary.text_stable is not None]
    return "stable" if known else None


def ab_judgement(a: list[StrategyResult | None], b: list[StrategyResult | None]) -> tuple[str | None, str | None]:
    """(worse, better) for B against A: B's text changes where A's does not, or the other
    way; each a reason for the verdict, else None."""
    a_changes, b_changes = side_changes(a), side_changes(b)
    if b_changes and not a_changes:
        return f"B's transcript changed under greedy decoding, A's did not ({'; '.join(b_changes)})", None
    if a_changes and not b_changes:
        return None, f"A's transcript changed under greedy decoding, B's did not ({'; '.join(a_changes)})"
    return None, None
