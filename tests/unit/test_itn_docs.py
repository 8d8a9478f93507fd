"""Every ITN example in docs/quality.md (its summary and its ITN section) is a test: the examples are read from
the documents themselves (a pair of code spans joined by an arrow: spoken, then what orch
writes), so the docs cannot drift from the code."""

import re
from pathlib import Path

import pytest
from orchestrator.quality.itn import itn

REPO = Path(__file__).resolve().parents[2]
PAIR = re.compile(r"`([^`\n]+)`\s*→\s*`([^`\n]+)`")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def section(path: Path, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same level or higher."""
    text = path.read_text(encoding="utf-8")
    level = heading.split(" ")[0]
    start = text.index(heading + "\n")
    rest = text[start + len(heading) :]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    return text[start : start + len(heading) + (end.start() if end else len(rest))]


SECTIONS = {
    "docs/quality.md (In short)": section(REPO / "docs" / "quality.md", "## In short"),
    "docs/quality.md": section(REPO / "docs" / "quality.md", "## Chinese inverse text normalization"),
}
EXAMPLES = sorted({(doc, a, b) for doc, text in SECTIONS.items() for a, b in PAIR.findall(text)})


def test_the_documents_have_examples():
    counts = {doc: sum(1 for d, _, _ in EXAMPLES if d == doc) for doc in SECTIONS}
    assert counts["docs/quality.md (In short)"] >= 5 and counts["docs/quality.md"] >= 100, counts


@pytest.mark.parametrize("doc,spoken,written", EXAMPLES, ids=[f"{d}:{a}" for d, a, _ in EXAMPLES])
def test_documented_example(doc, spoken, written):
    assert itn(spoken) == written


@pytest.mark.parametrize("doc", list(SECTIONS))
def test_no_example_outside_the_tested_form(doc):
    """An arrow right after Chinese text is an example; it must be in the tested form."""
    rest = PAIR.sub("", SECTIONS[doc])
    loose = [m.group() for m in re.finditer(r"(\S+)\s*→\s*(\S+)", rest) if CJK.search(m.group(1))]
    assert not loose, f"{doc}: examples not written as `spoken` → `written`: {loose}"


def test_the_issue_12_examples():
    """The examples issue 12 lists, in the form it gives them."""
    cases = {
        "负十点五": "-10.5",
        "负百分之十三": "-13%",
        "伍拾壹点肆": "51.4",
        "五点一刻": "5点1刻",
        "一点五分十秒": "01:05:10",
        "八点三十": "8:30",
        "上午十点半": "上午10:30",
        "十分之一": "1/10",
        "一百分之一": "1/100",
        "百分三十": "30%",
        "幺八五洞幺拐两零柒幺玖": "18501720719",
        "一兆零三百万两千三百人": "1兆300万2300人",
        "一千一百十": "1110",
        "十五六千瓦时": "15~16千瓦时",
        "十三五规划": "十三五规划",
        "几十万": "几十万",
        "下午三点半": "下午3:30",
    }
    assert {k: itn(k) for k in cases} == cases
