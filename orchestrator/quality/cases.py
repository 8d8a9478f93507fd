"""ITN test cases: the ``input -> expected`` file format, and its Traditional variants."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_CASES = REPO_ROOT.parent / "shared" / "itn" / "cases.txt"
VARIANTS = ("simplified", "s2t", "s2tw")


def load_cases(path: str | Path = SHARED_CASES) -> list[tuple[str, str]]:
    """``(input, expected)`` pairs; ``#`` lines are comments; blank separator lines (empty
    input and empty expected) are skipped."""
    cases = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or " -> " not in line + " ":
            continue
        src, _, expected = line.partition(" -> ")
        if not src.strip() and not expected.strip():
            continue
        cases.append((src, expected))
    return cases


def variant(cases: list[tuple[str, str]], name: str) -> list[tuple[str, str]]:
    """The same cases in Simplified (as given) or converted with OpenCC ``s2t`` / ``s2tw``,
    input and expected output alike."""
    if name == "simplified":
        return list(cases)
    import opencc  # lazy: seconds to load; `orch run --help` imports this module (run.plan_inputs)

    conv = opencc.OpenCC(name)
    return [(conv.convert(a), conv.convert(b)) for a, b in cases]
