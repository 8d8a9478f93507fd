"""The calibration engine's models are labels, NAME[:MB] (the MB its load allocates): a
label whose size is not a number is a problem of the plan itself (RunPlan.validate, through
the registry entry's `model_problems`)."""

from __future__ import annotations

import math


def label_problems(models) -> list[str]:
    problems = []
    for model in models:
        _name, _, mb = str(model).partition(":")
        if mb and not _is_size(mb):
            problems.append(
                f"calibration model {model!r}: MB after the colon must be a number >= 0 (labels are NAME[:MB])"
            )
    return problems


def _is_size(text: str) -> bool:
    try:
        value = float(text)
    except ValueError:
        return False
    return math.isfinite(value) and value >= 0
