#!/usr/bin/env python3
"""Measure Chinese ITN implementations on the shared cases file: exact matches per
implementation, on the cases as given and on the same cases converted to Traditional (OpenCC
s2t and s2tw on input and expected alike).

    python scripts/measure_itn.py [--cases ../shared/itn/cases.txt] [--format md] [--show-misses NAME]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.quality.cases import SHARED_CASES, VARIANTS, load_cases, variant  # noqa: E402
from orchestrator.results.tabular import format_option, render_table  # noqa: E402


def implementations() -> dict:
    """name -> (callable or None, note)."""
    impls = {}
    from orchestrator.quality.itn import itn

    impls["orch (orchestrator.quality.itn)"] = (itn, "")
    try:
        import warnings

        import cn2an

        def run_cn2an(text: str) -> str:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    return cn2an.transform(text, "cn2an")
                except Exception:  # noqa: BLE001 — a failure is a miss
                    return text

        impls[f"cn2an {getattr(cn2an, '__version__', '')}".strip()] = (run_cn2an, "transform(text, 'cn2an')")
    except ImportError:
        impls["cn2an"] = (None, "not installed")
    for pkg, label in (("wetext", "wetext (WeTextProcessing runtime)"), ("itntext", "itntext")):
        try:
            mod = __import__(pkg)
            normalizer = mod.Normalizer(lang="zh", operator="itn")
            impls[label] = (normalizer.normalize, "Normalizer(lang='zh', operator='itn')")
        except ImportError:
            impls[label] = (None, f"not installed (pip install {pkg})")
        except Exception as e:  # noqa: BLE001 — e.g. a model it cannot fetch offline
            impls[label] = (None, f"failed to load: {type(e).__name__}: {e}"[:120])
    return impls


def measure(fn, cases) -> tuple[int, list]:
    misses = []
    for src, expected in cases:
        got = fn(src)
        if got != expected:
            misses.append((src, expected, got))
    return len(cases) - len(misses), misses


@click.command()
@click.option("--cases", "cases_path", type=click.Path(dir_okay=False), default=str(SHARED_CASES), show_default=True)
@click.option("--show-misses", default=None, help="Print the misses of implementations whose name starts so.")
@format_option()
def main(cases_path: str, show_misses: str | None, fmt: str) -> None:
    if not Path(cases_path).is_file():
        raise click.ClickException(f"no cases file at {cases_path}")
    base = load_cases(cases_path)
    sets = {name: variant(base, name) for name in VARIANTS}
    headers = ["implementation"] + [f"{v} exact" for v in VARIANTS] + [f"{v} %" for v in VARIANTS] + ["ms/case", "note"]
    rows = []
    for name, (fn, note) in implementations().items():
        if fn is None:
            rows.append([name] + [None] * (2 * len(VARIANTS) + 1) + [note])
            continue
        counts, start = [], time.perf_counter()
        for v in VARIANTS:
            ok, misses = measure(fn, sets[v])
            counts.append(ok)
            if show_misses and name.startswith(show_misses):
                for m in misses:
                    click.echo(f"[{v}] {m[0]} | expected {m[1]} | got {m[2]}", err=True)
        ms = (time.perf_counter() - start) * 1000 / (len(base) * len(VARIANTS))
        n = len(base)
        rows.append(
            [name] + [f"{c}/{n}" for c in counts] + [round(100 * c / n, 1) for c in counts] + [round(ms, 3), note]
        )
    click.echo(render_table(headers, rows, fmt))


if __name__ == "__main__":
    main()
