"""A run on a clip with a sidecar reference records it in run.json and scores a Chinese clip
per character (issue 18 item 9: the table showed WER 14.000 from the sidecar, run.json's
`reference` was null)."""

import json
import shutil

import pytest
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST, REPO

CALIBRATION_TEXT = "calibration stream one two three four five six seven eight nine ten eleven twelve"


def test_run_json_records_the_sidecar_reference_and_cer(tmp_path):
    for name in ("phone-zh.wav", "phone-zh.txt"):
        shutil.copy(REPO / "samples" / name, tmp_path / name)
    plan = RunPlan(strategies=["restart"], iters=2, warmup=0, engine="calibration", engine_options=FAST,
                   audio=str(tmp_path / "phone-zh.wav"), out_dir=tmp_path / "out", iter_timeout=20)
    execute(plan)
    saved = json.loads((plan.run_dir / "run.json").read_text())
    assert saved["plan"]["reference"] == str(tmp_path / "phone-zh.txt")
    it = saved["results"][0]["iterations"][0]
    assert it["text"] == CALIBRATION_TEXT
    # per character, spaces dropped: 68 characters against the 10 of 0900073331, none equal
    assert it["wer"] is None
    assert it["cer"] == pytest.approx(68 / 10)
    assert saved["results"][0]["summary"]["cer_mean"] == pytest.approx(6.8)
