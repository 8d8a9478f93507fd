"""orch's random-weight HF folder, prepared for other runtimes' converters.

`write_hf_folder` (engines/qwen3asr_weights.py) writes the *original* Qwen3-ASR layout that
chatllm.cpp's convert.py reads. Converters built on the official code (qwen-asr, CrispASR's
GGUF converter, optimum-intel's OpenVINO export, the ONNX exporters) also read that layout,
but they default the ASR token ids to the real tokenizer's (`<|audio_pad|>` = 151676), while
orch's tokenizer puts its added tokens right after Qwen3's (`<|audio_pad|>` = 151671). The
copy made here says the folder's own ids, so every runtime gets the same weights and the same
prompt. The weights are symlinked: nothing is copied or changed in the source folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

# the tokenizer attributes the official processor reads (tokenizer.audio_token, ...)
EXTRA_SPECIAL_TOKENS = {
    "audio_token": "<|audio_pad|>",
    "audio_bos_token": "<|audio_start|>",
    "audio_eos_token": "<|audio_end|>",
}
REWRITTEN = ("config.json", "vocab.json", "tokenizer_config.json")


def added_tokens(folder: Path) -> dict[str, int]:
    """The folder's added tokens by text (from tokenizer.json)."""
    data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    return {t["content"]: int(t["id"]) for t in data["added_tokens"]}


def prepared_copy(src: Path, dst: Path) -> Path:
    """A copy of orch's HF folder `src` at `dst` (made or refreshed) with the ASR token ids in
    thinker_config, the audio tokens named in tokenizer_config.json and the added tokens in
    vocab.json (converters that build their token list from vocab.json alone would split
    `<asr_text>` otherwise). Safetensors files are symlinks to `src`'s."""
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        target = dst / f.name
        if target.exists() or target.is_symlink():
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink()
        if f.suffix == ".safetensors":
            os.symlink(f.resolve(), target)
        elif f.is_file() and f.name not in REWRITTEN:
            shutil.copy(f, target)
    added = added_tokens(src)
    vocab = json.loads((src / "vocab.json").read_text(encoding="utf-8"))
    vocab.update(added)
    (dst / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer_config = json.loads((src / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config["extra_special_tokens"] = dict(EXTRA_SPECIAL_TOKENS)
    (dst / "tokenizer_config.json").write_text(
        json.dumps(tokenizer_config, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    thinker = config["thinker_config"]
    thinker["audio_token_id"] = added["<|audio_pad|>"]
    thinker["audio_start_token_id"] = added["<|audio_start|>"]
    thinker["audio_end_token_id"] = added["<|audio_end|>"]
    if "<timestamp>" in added:  # the forced aligner's
        config["timestamp_token_id"] = added["<timestamp>"]
    (dst / "config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
    return dst
