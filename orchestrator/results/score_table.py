"""What `orch score` prints: the score (CER, WER, the edit counts) and the alignment, as
tables or one JSON document."""

from __future__ import annotations

import json

from orchestrator.quality.scoring import Score

SCORE_HEADERS = [
    "mode",
    "cer",
    "wer",
    "mixed",
    "hits",
    "substitutions",
    "deletions",
    "insertions",
    "ref_tokens",
    "hyp_tokens",
]
ALIGNMENT_HEADERS = ["op", "ref", "hyp"]


def _rate(value):
    return None if value is None else round(value, 6)


def score_row(result: Score) -> list:
    return [
        result.mode,
        _rate(result.cer),
        _rate(result.wer),
        _rate(result.mixed),
        result.hits,
        result.substitutions,
        result.deletions,
        result.insertions,
        result.reference_tokens,
        result.hypothesis_tokens,
    ]


def alignment_rows(result: Score) -> list[list]:
    return [[a["op"], a["ref"], a["hyp"]] for a in result.alignment]


def score_json(result: Score) -> str:
    return json.dumps(
        {"score": dict(zip(SCORE_HEADERS, score_row(result), strict=False)), "alignment": result.alignment},
        ensure_ascii=False,
        indent=2,
    )
