"""A weighted audio list (`orch load --audio-list FILE`): one `weight path` a line, so short and
long requests compete in the proportions given. The weight is a number > 0 (how often the file
is picked relative to the others); the path is the rest of the line, relative to the list's
own folder unless absolute. Blank lines and lines starting with `#` are skipped."""

from __future__ import annotations

from pathlib import Path


def parse(text: str, base: Path) -> list[tuple[float, str]]:
    """(weight, path) of each entry; ValueError naming the first bad line (number and why)."""
    out: list[tuple[float, str]] = []
    seen: set[str] = set()
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        weight_text, _, rest = line.partition(" ")
        name = rest.strip()
        try:
            weight = float(weight_text)
        except ValueError:
            raise ValueError(f"line {n}: {weight_text!r} is not a weight (write: WEIGHT PATH)") from None
        if not weight > 0 or weight == float("inf"):
            raise ValueError(f"line {n}: the weight must be a number > 0 (got {weight_text})")
        if not name:
            raise ValueError(f"line {n}: no path after the weight (write: WEIGHT PATH)")
        path = str(Path(name) if Path(name).is_absolute() else base / name)
        if not Path(path).is_file():
            raise ValueError(f"line {n}: {name}: no such file")
        if path in seen:
            raise ValueError(f"line {n}: {name} is listed twice (give it one weight)")
        seen.add(path)
        out.append((weight, path))
    if not out:
        raise ValueError("no entries (write one WEIGHT PATH a line)")
    return out
