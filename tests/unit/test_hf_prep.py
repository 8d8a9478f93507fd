"""The prepared copy of orch's HF folder that other runtimes' converters read."""

from __future__ import annotations

import json

import pytest
from orchestrator.engines.hf_prep import added_tokens, prepared_copy
from orchestrator.engines.qwen3asr_weights import SPECS, write_hf_folder

pytest.importorskip("numpy")


@pytest.mark.slow
def test_prepared_copy_says_the_folders_own_token_ids(tmp_path):
    src = write_hf_folder(SPECS["tiny-aligner"], tmp_path / "src")
    before = {f.name: f.read_bytes() for f in src.iterdir() if f.is_file()}
    dst = prepared_copy(src, tmp_path / "dst")

    ids = added_tokens(src)
    assert ids["<|audio_pad|>"] == 151671  # orch's tokenizer, not the real 151676
    thinker = json.loads((dst / "config.json").read_text())["thinker_config"]
    assert (thinker["audio_token_id"], thinker["audio_start_token_id"], thinker["audio_end_token_id"]) == (
        151671,
        151669,
        151670,
    )
    assert json.loads((dst / "config.json").read_text())["timestamp_token_id"] == ids["<timestamp>"] == 151673
    assert json.loads((dst / "tokenizer_config.json").read_text())["extra_special_tokens"]["audio_token"] == (
        "<|audio_pad|>"
    )
    assert json.loads((dst / "vocab.json").read_text())["<asr_text>"] == 151672
    weights = [f for f in dst.iterdir() if f.suffix == ".safetensors"]
    assert weights and all(f.is_symlink() and f.resolve().parent == src.resolve() for f in weights)
    # the source folder is untouched, and a second call refreshes the copy in place
    assert {f.name: f.read_bytes() for f in src.iterdir() if f.is_file()} == before
    assert prepared_copy(src, dst) == dst
