"""orch's HF folder -> the folder transformers loads: the same tensors under new names.

orch writes its random-weight models (`write_hf_folder`, orchestrator/engines/qwen3asr_weights.py)
in Qwen3-ASR's original layout: `thinker_config.{text_config,audio_config}`, `thinker.*`
tensors. transformers 5.x (`models/qwen3_asr`) loads the converted "-hf" layout of
`Qwen/Qwen3-ASR-*-hf` instead. This does what transformers' own
`src/transformers/models/qwen3_asr/convert_qwen3_asr_to_hf.py` does (same name mapping,
same config clean-up, same chat templates), with three differences that are the reason it
exists:
- it needs no torch: tensors are renamed in the safetensors header and their bytes copied
  (cast with numpy only for f16/bf16), one tensor at a time, so the parent process can make
  the models and a full-shape 1.7B never sits in memory;
- it keeps float32 by default (theirs casts to bf16), so every runtime gets the very same
  numbers;
- it takes the token ids from the folder's own tokenizer. orch appends the ASR tokens right
  after Qwen3's last added token (`<|audio_pad|>` = 151671, `<timestamp>` = 151673); the
  published models and transformers' config defaults have 151676 and 151705. A wrong
  `audio_token_id` makes the model look for audio positions that are not there.

Two config decisions, both transformers' own: Qwen3-ASR's interleaved M-RoPE is dropped
(audio-only input gives every token equal t/h/w positions, so it is plain 1-D RoPE), and the
encoder's position table is 13 long (one chunk of 2 * n_window = 100 mel frames after three
stride-2 convolutions). `tie_word_embeddings` is written false: orch's checkpoint always has
its own `lm_head` (as chatllm.cpp's convert.py stores it), and tying would replace it by the
embedding.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import OrchError

TARGET_TRANSFORMERS = "5.24.0"  # the version whose qwen3_asr layout this writes (setup.cfg pins it)

# prefixes replaced in order, as in convert_qwen3_asr_to_hf.py (STATE_DICT_MAPPING_*)
ASR_NAMES = (
    ("thinker.model.", "model.language_model."),
    ("thinker.lm_head.", "lm_head."),
    ("thinker.", "model."),
    ("model.audio_tower.proj1.", "model.multi_modal_projector.linear_1."),
    ("model.audio_tower.proj2.", "model.multi_modal_projector.linear_2."),
)
# the aligner's head classifies timestamps: transformers calls it `score`
ALIGNER_NAMES = tuple(("thinker.lm_head.", "score.") if a == "thinker.lm_head." else (a, b) for a, b in ASR_NAMES)

# safetensors dtype names, bytes per value, and config.json's torch dtype name
DTYPES = {"f32": ("F32", 4, "float32"), "f16": ("F16", 2, "float16"), "bf16": ("BF16", 2, "bfloat16")}

# the text decoder's fields transformers' Qwen3Config takes (the rest of orch's text_config
# is M-RoPE, which goes, or fields it sets itself)
TEXT_KEYS = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "hidden_act",
    "max_position_embeddings",
    "rms_norm_eps",
    "attention_bias",
    "use_sliding_window",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
)
# the audio encoder's fields Qwen3ASREncoderConfig takes (transformers 5.24 keeps the Whisper names)
AUDIO_KEYS = (
    "num_mel_bins",
    "encoder_layers",
    "encoder_attention_heads",
    "encoder_ffn_dim",
    "d_model",
    "activation_function",
    "n_window",
    "output_dim",
    "n_window_infer",
    "downsample_hidden_size",
)
ENCODER_POSITIONS = 13  # 100 mel frames -> 50 -> 25 -> 13 after the three stride-2 convolutions
# the original Qwen3-ASR library's default, which convert_qwen3_asr_to_hf.py writes too
DEFAULT_MAX_NEW_TOKENS = 512

# convert_qwen3_asr_to_hf.py's templates (transformers 5.24), minus the `{% generation %}`
# markers, which only mask training targets and need a newer jinja2 extension
ASR_CHAT_TEMPLATE = (
    "{%- set ns = namespace(system_text='') -%}{%- for m in messages -%}{%- if m.role == 'system' -%}"
    "{%- if m.content is string -%}{%- set ns.system_text = ns.system_text + m.content -%}{%- else -%}"
    "{%- for c in m.content -%}{%- if c.type == 'text' and (c.text is defined) -%}"
    "{%- set ns.system_text = ns.system_text + c.text -%}{%- endif -%}{%- endfor -%}{%- endif -%}{%- endif -%}"
    "{%- endfor -%}"
    "{%- set ns2 = namespace(audio_tokens='') -%}{%- for m in messages -%}{%- if m.content is not string -%}"
    "{%- for c in m.content -%}{%- if c.type == 'audio' or ('audio' in c) or ('audio_url' in c) -%}"
    "{%- set ns2.audio_tokens = ns2.audio_tokens + '<|audio_start|><|audio_pad|><|audio_end|>' -%}"
    "{%- endif -%}{%- endfor -%}{%- endif -%}{%- endfor -%}"
    "{{- '<|im_start|>system\\n' + ns.system_text + '<|im_end|>\\n' -}}"
    "{{- '<|im_start|>user\\n' + ns2.audio_tokens + '<|im_end|>\\n' -}}"
    "{%- for m in messages -%}{%- if m.role == 'assistant' -%}{%- set ns3 = namespace(assistant_text='') -%}"
    "{%- if m.content is string -%}{%- set ns3.assistant_text = m.content -%}{%- else -%}"
    "{%- for c in m.content -%}{%- if c.type == 'text' and (c.text is defined) -%}"
    "{%- set ns3.assistant_text = ns3.assistant_text + c.text -%}{%- endif -%}{%- endfor -%}{%- endif -%}"
    "{{- '<|im_start|>assistant\\n' -}}{{- ns3.assistant_text + '<|im_end|>\\n' -}}{%- endif -%}{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)
ALIGNER_CHAT_TEMPLATE = (
    "{%- set ns = namespace(audio_tokens='', words=[]) -%}{%- for m in messages -%}"
    "{%- if m.content is not string -%}{%- for c in m.content -%}"
    "{%- if c.type == 'audio' or ('audio' in c) or ('audio_url' in c) -%}"
    "{%- set ns.audio_tokens = ns.audio_tokens + '<|audio_start|><|audio_pad|><|audio_end|>' -%}{%- endif -%}"
    "{%- if c.type == 'text' and (c.text is defined) -%}{%- set ns.words = ns.words + [c.text] -%}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}{%- endfor -%}"
    "{{- ns.audio_tokens + ns.words | join('<timestamp><timestamp>') + '<timestamp><timestamp>' -}}"
)

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt")
BLOCK_BYTES = 64 * 2**20  # copied or cast at a time: bounds memory whatever the tensor's size


class ConvertError(OrchError):
    """The source folder cannot be converted (exit 2): missing files, an unknown layout, ..."""


@dataclass(frozen=True)
class TokenIds:
    """The ids the model needs, from the folder's own tokenizer.json."""

    audio_pad: int
    audio_start: int
    audio_end: int
    im_end: int
    endoftext: int
    timestamp: int | None  # the aligner's word-boundary marker; None in an ASR tokenizer


@dataclass(frozen=True)
class ConvertedFile:
    file: str  # written, relative to the folder
    source_file: str  # read, relative to the source folder
    tensors: int
    bytes: int


@dataclass(frozen=True)
class Converted:
    folder: Path
    source: Path
    aligner: bool
    dtype: str  # f32 / f16 / bf16
    token_ids: TokenIds
    files: list[ConvertedFile] = field(default_factory=list)

    @property
    def weight_bytes(self) -> int:
        return sum(f.bytes for f in self.files)


# --------------------------------------------------------------------------- names and configs
def tensor_name(name: str, aligner: bool) -> str:
    """A source tensor's name in transformers' layout."""
    for old, new in ALIGNER_NAMES if aligner else ASR_NAMES:
        name = name.replace(old, new)
    return name


def token_ids(tokenizer: dict) -> TokenIds:
    """The ids of the tokens the config names, from tokenizer.json's added tokens."""
    added = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}
    need = ("<|audio_pad|>", "<|audio_start|>", "<|audio_end|>", "<|im_end|>", "<|endoftext|>")
    missing = [t for t in need if t not in added]
    if missing:
        raise ConvertError(f"tokenizer.json has no {', '.join(missing)}: not a Qwen3-ASR tokenizer")
    return TokenIds(
        audio_pad=added["<|audio_pad|>"],
        audio_start=added["<|audio_start|>"],
        audio_end=added["<|audio_end|>"],
        im_end=added["<|im_end|>"],
        endoftext=added["<|endoftext|>"],
        timestamp=added.get("<timestamp>"),
    )


def is_aligner(source_config: dict) -> bool:
    """The forced aligner has a timestamp classifier (`classify_num`), as the upstream script detects it."""
    return "classify_num" in (source_config.get("thinker_config") or {})


def transformers_config(source_config: dict, ids: TokenIds, dtype: str) -> dict:
    """config.json for Qwen3ASRForConditionalGeneration / Qwen3ASRForTokenClassification."""
    thinker = source_config.get("thinker_config")
    if not isinstance(thinker, dict) or "text_config" not in thinker or "audio_config" not in thinker:
        raise ConvertError("config.json has no thinker_config.{text_config,audio_config}: not Qwen3-ASR's layout")
    text_src, audio_src = thinker["text_config"], thinker["audio_config"]
    text = {k: text_src[k] for k in TEXT_KEYS if k in text_src}
    text.update(
        model_type="qwen3",
        rope_parameters={"rope_type": "default", "rope_theta": text_src.get("rope_theta", 1000000.0)},
        tie_word_embeddings=False,
    )
    audio = {k: audio_src[k] for k in AUDIO_KEYS if k in audio_src}
    audio.update(model_type="qwen3_asr_encoder", max_position_embeddings=ENCODER_POSITIONS)
    aligner = is_aligner(source_config)
    config: dict[str, object] = {
        "architectures": ["Qwen3ASRForTokenClassification" if aligner else "Qwen3ASRForConditionalGeneration"],
        "model_type": "qwen3_asr",
        "audio_config": audio,
        "text_config": text,
        "audio_token_id": ids.audio_pad,
        "eos_token_id": [ids.endoftext, ids.im_end],
        "pad_token_id": ids.im_end,
        "tie_word_embeddings": False,
        "dtype": DTYPES[dtype][2],
        "transformers_version": TARGET_TRANSFORMERS,
    }
    if aligner:
        if ids.timestamp is None:
            raise ConvertError("an aligner's tokenizer.json needs a <timestamp> token")
        config["num_labels"] = thinker["classify_num"]
        config["timestamp_token_id"] = ids.timestamp
    if "orch_tiny_model" in source_config:  # how orch tells its random-weight models (max_new_tokens default)
        config["orch_tiny_model"] = source_config["orch_tiny_model"]
    return config


def generation_config(ids: TokenIds) -> dict:
    """Greedy, ending at either end token (the ASR model only; the aligner does not generate)."""
    return {
        "do_sample": False,
        "eos_token_id": [ids.endoftext, ids.im_end],
        "pad_token_id": ids.im_end,
        "max_new_tokens": DEFAULT_MAX_NEW_TOKENS,
        "transformers_version": TARGET_TRANSFORMERS,
    }


def tokenizer_config(source: dict) -> dict:
    """The folder's tokenizer_config.json, told which tokens are the audio ones (the processor
    reads `tokenizer.audio_token` and friends) and without Qwen3's chat template (the
    processor's template is in chat_template.jinja)."""
    out = {k: v for k, v in source.items() if k != "chat_template"}
    out["extra_special_tokens"] = {
        "audio_token": "<|audio_pad|>",
        "audio_bos_token": "<|audio_start|>",
        "audio_eos_token": "<|audio_end|>",
    }
    out["processor_class"] = "Qwen3ASRProcessor"
    return out


def processor_config(preprocessor: dict, audio_config: dict, timestamp_segment_time: float) -> dict:
    """processor_config.json: Qwen3ASRFeatureExtractor with the folder's mel settings."""
    keep = ("chunk_length", "feature_size", "hop_length", "n_fft", "n_samples", "nb_max_frames", "sampling_rate")
    extractor = {k: preprocessor[k] for k in keep if k in preprocessor}
    extractor.update(
        feature_extractor_type="Qwen3ASRFeatureExtractor",
        n_window=audio_config.get("n_window", 50),
        padding_side="right",
        padding_value=0.0,
        return_attention_mask=True,
        dither=0.0,
    )
    return {
        "feature_extractor": extractor,
        "processor_class": "Qwen3ASRProcessor",
        "timestamp_segment_time": timestamp_segment_time,
    }


# --------------------------------------------------------------------------- safetensors
def read_header(path: Path) -> tuple[dict, int]:
    """A safetensors file's header and where its data starts."""
    try:
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) < 8:
                raise ConvertError(f"not a safetensors file (too short): {path}")
            (size,) = struct.unpack("<Q", raw)
            if size > 100 * 2**20:
                raise ConvertError(f"not a safetensors file (header of {size} bytes): {path}")
            header = json.loads(f.read(size))
    except OSError as exc:
        raise ConvertError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise ConvertError(f"corrupt safetensors header: {path}") from None
    return header, 8 + size


def bf16_bits(values):
    """float32 -> bfloat16 bit patterns (uint16), rounded to nearest even as torch does; NaN
    stays NaN (rounding could carry a NaN's payload into the exponent and make it infinite)."""
    import numpy as np

    bits = np.ascontiguousarray(values, dtype="<f4").view("<u4")
    rounded = (bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)
    out = rounded.astype("<u2")
    out[np.isnan(values)] = 0x7FC0
    return out


def _cast(raw: bytes, dtype: str) -> bytes:
    """A block of float32 values as `dtype`'s bytes."""
    import numpy as np

    values = np.frombuffer(raw, dtype="<f4")
    if dtype == "f16":
        return values.astype("<f2").tobytes()
    return bf16_bits(values).tobytes()


def _blocks(f, size: int, step: int) -> Iterator[bytes]:
    left = size
    while left:
        raw = f.read(min(step, left))
        if not raw:
            raise ConvertError(f"safetensors data cut short in {f.name}")
        left -= len(raw)
        yield raw


def convert_weights(src: Path, dst: Path, aligner: bool, dtype: str) -> ConvertedFile:
    """One safetensors file: every tensor renamed, copied (or cast from F32) in order, streamed."""
    header, data_start = read_header(src)
    st_dtype, width, _ = DTYPES[dtype]
    tensors = [(name, info) for name, info in header.items() if name != "__metadata__"]
    tensors.sort(key=lambda item: item[1]["data_offsets"][0])
    out_header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, info in tensors:
        if info["dtype"] != st_dtype and info["dtype"] != "F32":
            raise ConvertError(f"{src.name}: {name} is {info['dtype']}; only F32 can be cast (to {st_dtype})")
        begin, end = info["data_offsets"]
        size = end - begin if info["dtype"] == st_dtype else (end - begin) // 4 * width  # copied, or cast from F32
        out_header[tensor_name(name, aligner)] = {
            "dtype": st_dtype,
            "shape": info["shape"],
            "data_offsets": [offset, offset + size],
        }
        offset += size
    raw_header = json.dumps(out_header, separators=(",", ":")).encode()
    raw_header += b" " * (-len(raw_header) % 8)  # the format pads its header to 8 bytes
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        fout.write(struct.pack("<Q", len(raw_header)))
        fout.write(raw_header)
        for _name, info in tensors:
            begin, end = info["data_offsets"]
            fin.seek(data_start + begin)
            cast = info["dtype"] != st_dtype
            # whole float32 values per block, so a cast never splits one
            for raw in _blocks(fin, end - begin, BLOCK_BYTES - BLOCK_BYTES % 4):
                fout.write(_cast(raw, dtype) if cast else raw)
    return ConvertedFile(file=dst.name, source_file=src.name, tensors=len(tensors), bytes=offset)


def weight_files(folder: Path) -> list[Path]:
    """The checkpoint's safetensors files: model.safetensors, or the shards the index names."""
    index = folder / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map") or {}
        return [folder / name for name in sorted(set(weight_map.values()))]
    single = folder / "model.safetensors"
    if single.exists():
        return [single]
    raise ConvertError(f"no model.safetensors (or index) in {folder}")


def _write_index(source: Path, dst: Path, aligner: bool, total: int) -> None:
    index = json.loads((source / "model.safetensors.index.json").read_text(encoding="utf-8"))
    index["weight_map"] = {tensor_name(k, aligner): v for k, v in index["weight_map"].items()}
    index.setdefault("metadata", {})["total_size"] = total
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


# --------------------------------------------------------------------------- the folder
def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConvertError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ConvertError(f"{path} is not JSON: {exc}") from None


def convert_folder(source: Path, dst: Path, dtype: str = "f32") -> Converted:
    """Write transformers' folder for the model in `source` (orch's layout) to `dst`. Built in
    `dst`.partial and renamed at the end: an interrupted conversion leaves no half model."""
    if dtype not in DTYPES:
        raise ConvertError(f"dtype {dtype!r}: choose from {', '.join(DTYPES)}")
    source, dst = Path(source), Path(dst)
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        if not (source / name).exists():
            raise ConvertError(f"{source} has no {name}: not an HF model folder")
    source_config = _read_json(source / "config.json")
    ids = token_ids(_read_json(source / "tokenizer.json"))
    aligner = is_aligner(source_config)
    config = transformers_config(source_config, ids, dtype)
    work = dst.with_name(dst.name + ".partial")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        files = [convert_weights(f, work / f.name, aligner, dtype) for f in weight_files(source)]
        if (source / "model.safetensors.index.json").exists():
            _write_index(source, work, aligner, sum(f.bytes for f in files))
        _write_json(work / "config.json", config)
        if not aligner:
            _write_json(work / "generation_config.json", generation_config(ids))
        for name in TOKENIZER_FILES:
            if (source / name).exists():
                shutil.copyfile(source / name, work / name)
        _write_json(work / "tokenizer_config.json", tokenizer_config(_read_json(source / "tokenizer_config.json")))
        segment = float(source_config.get("timestamp_segment_time", 80.0))
        audio = source_config["thinker_config"]["audio_config"]
        _write_json(
            work / "processor_config.json",
            processor_config(_read_json(source / "preprocessor_config.json"), audio, segment),
        )
        template = ALIGNER_CHAT_TEMPLATE if aligner else ASR_CHAT_TEMPLATE
        (work / "chat_template.jinja").write_text(template, encoding="utf-8")
        shutil.rmtree(dst, ignore_errors=True)
        os.replace(work, dst)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return Converted(folder=dst, source=source, aligner=aligner, dtype=dtype, token_ids=ids, files=files)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
