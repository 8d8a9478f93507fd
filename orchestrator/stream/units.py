"""The text's tokens as the stream policies count them: a word (with its leading space), a
CJK character, or a run of other non-space characters; joining them gives the text back."""

from __future__ import annotations

import re

# a CJK character alone; else a word with its leading spaces
_UNIT = re.compile(r"\s*[\u3400-\u9fff\uf900-\ufaff]|\s*[^\s\u3400-\u9fff\uf900-\ufaff]+|\s+$")


def split(text: str) -> list[str]:
    """The units of `text`; "".join(split(text)) == text."""
    return _UNIT.findall(text)


def drop_last(text: str, k: int) -> str:
    """`text` without its last `k` units (all of it gone when it has k or fewer)."""
    parts = split(text)
    return "".join(parts[: max(0, len(parts) - k)])


def last(text: str, k: int) -> str:
    """The last `k` units of `text`, its leading space dropped."""
    parts = split(text)
    return "".join(parts[-k:]).lstrip() if k > 0 else ""


def common_prefix(a: str, b: str) -> str:
    """The longest run of whole units both texts begin with (LocalAgreement)."""
    out = []
    for x, y in zip(split(a), split(b), strict=False):
        if x.strip() != y.strip():
            break
        out.append(x)
    return "".join(out)
