"""What a model's weights cost per request, from its test-model manifest entry, for any
engine: the bytes of decoder weights read per generated token (the memory-bandwidth limit of
decoding) and the FLOPs of encoding the audio and prefilling the prompt (the matrix-multiply
limit of the time to first token). docs/limits.md explains every approximation.

An entry qualifies when it carries the model's dimensions (a `spec` object, or the same keys
at its top level as chatllm.cpp's tiny-models.json has) and a stored precision (`precision`,
`quant` or `dtype`). Every runtime's models are converted from orch's one HF checkpoint
(engines/qwen3asr_weights.write_hf_folder), so its tensor list (`weight_shapes`) is the
parameter count whatever the file format.

Approximations (so the limit is an upper bound on speed, never a prediction):
- decode reads every decoder layer's matrices and lm_head once per token at the stored
  precision; 1-D norms and biases, the one embedding row, the KV cache and activations are
  left out (under 1% at these context lengths);
- a block-quantized precision counts its scales (q8_0: 34 bytes per 32 weights, q4_0: 18);
- encode+prefill FLOPs = 2 x weights x positions each weight is applied at: the audio
  encoder's matrices at every encoder token, its three stride-2 convolutions at every output
  cell, the decoder's layer matrices at every prompt token (audio tokens + PROMPT_TOKENS of
  chat template), lm_head once; attention's own score FLOPs are left out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# bytes per stored weight, by the names manifests use (ggml block formats with their scales)
BYTES_PER_WEIGHT: dict[str, float] = {
    "f32": 4.0,
    "fp32": 4.0,
    "float32": 4.0,
    "f16": 2.0,
    "fp16": 2.0,
    "float16": 2.0,
    "bf16": 2.0,
    "bfloat16": 2.0,
    "q8_0": 34 / 32,
    "q5_1": 24 / 32,
    "q5_0": 22 / 32,
    "q4_1": 20 / 32,
    "q4_0": 18 / 32,
    "int8": 1.0,
    "int4": 0.5,
}
PRECISION_KEYS = ("precision", "quant", "dtype")

MEL_FRAMES_PER_S = 100  # Qwen3-ASR's feature extractor: a 10 ms hop
MEL_CHUNK = 100  # the encoder's window (2 x n_window) in mel frames: each chunk's convolutions are separate
MEL_BINS = 128
PROMPT_TOKENS = 16  # chat template around the audio tokens (system, user, assistant, language tag)


@dataclass(frozen=True)
class WeightsProfile:
    """The figures a limit needs of one model, at one stored precision."""

    precision: str
    bytes_per_weight: float
    decoder_params_per_token: int  # decoder layer matrices + lm_head: what one generated token reads
    decoder_layer_params: int  # decoder layer matrices alone (applied at every prompt token)
    lm_head_params: int
    encoder_linear_params: int  # audio encoder matrices applied at every encoder token
    conv_params: tuple[int, int, int]  # the three front-end convolutions' weights
    conv_out_bins: tuple[int, int, int]  # their output frequency bins

    @property
    def decode_bytes_per_token(self) -> float:
        return self.decoder_params_per_token * self.bytes_per_weight

    def encode_prefill_flops(self, audio_s: float) -> float:
        """FLOPs from audio to the first token for `audio_s` seconds of audio."""
        enc_tokens, conv_cells = encoder_positions(audio_s, self.conv_out_bins)
        encoder = 2 * self.encoder_linear_params * enc_tokens
        convs = sum(2 * p * cells for p, cells in zip(self.conv_params, conv_cells, strict=True))
        prefill = 2 * self.decoder_layer_params * (enc_tokens + PROMPT_TOKENS) + 2 * self.lm_head_params
        return float(encoder + convs + prefill)


def encoder_positions(audio_s: float, bins: tuple[int, int, int]) -> tuple[int, tuple[int, int, int]]:
    """(encoder tokens, output cells of each convolution) for `audio_s` seconds: mel frames in
    chunks of MEL_CHUNK, each halved (rounding up) by three stride-2 convolutions."""
    frames = round(audio_s * MEL_FRAMES_PER_S)
    chunks = [MEL_CHUNK] * (frames // MEL_CHUNK) + ([frames % MEL_CHUNK] if frames % MEL_CHUNK else [])
    cells = [0, 0, 0]
    tokens = 0
    for n in chunks:
        t = n
        for k in range(3):
            t = math.ceil(t / 2)
            cells[k] += t * bins[k]
        tokens += t
    return tokens, (cells[0], cells[1], cells[2])


def precision_of(entry: dict) -> str | None:
    for key in PRECISION_KEYS:
        value = entry.get(key)
        if isinstance(value, str) and value.lower() in BYTES_PER_WEIGHT:
            return value.lower()
    return None


def profile(entry: Any) -> WeightsProfile | None:
    """The entry's profile; None when it lacks the dimensions or a known precision."""
    # lazy: the shapes live with the HF checkpoint's writer (numpy is imported there)
    from orchestrator.engines.qwen3asr_weights import TinySpec, weight_shapes

    if not isinstance(entry, dict):
        return None
    spec_block = entry.get("spec")
    dims: dict = spec_block if isinstance(spec_block, dict) else entry
    precision = precision_of(entry) or (precision_of(dims) if dims is not entry else None)
    if precision is None:
        return None
    names = {f.name for f in dataclasses.fields(TinySpec)}
    try:
        spec = TinySpec(**{k: v for k, v in dims.items() if k in names})
        shapes = weight_shapes(spec)
    except (TypeError, ValueError):  # a dimension missing or not a number
        return None
    decoder_layers = sum(math.prod(s) for n, s in shapes.items() if ".model.layers." in n and len(s) == 2)
    lm_head = math.prod(shapes["thinker.lm_head.weight"])
    audio = {n: s for n, s in shapes.items() if ".audio_tower." in n}
    convs = tuple(math.prod(audio[f"thinker.audio_tower.conv2d{k}.weight"]) for k in (1, 2, 3))
    encoder_linear = sum(math.prod(s) for n, s in audio.items() if len(s) == 2)
    bins = (MEL_BINS + 1) // 2
    return WeightsProfile(
        precision=precision,
        bytes_per_weight=BYTES_PER_WEIGHT[precision],
        decoder_params_per_token=decoder_layers + lm_head,
        decoder_layer_params=decoder_layers,
        lm_head_params=lm_head,
        encoder_linear_params=encoder_linear,
        conv_params=(convs[0], convs[1], convs[2]),
        conv_out_bins=(bins, (bins + 1) // 2, ((bins + 1) // 2 + 1) // 2),
    )


MANIFEST_MAX_BYTES = 2**20  # a test-model manifest is a few KB: a big JSON beside a model is something else


def manifest_entry(model: str | Path) -> dict | None:
    """The manifest entry `orch make-test-models` wrote for `model` (a file or a folder), for
    any engine: a JSON object with a `models` map in the model's own folder, whose entry is
    named like the model (its file or folder name, with or without extension) or names it in
    `file` / `folder`. None when there is no such manifest (a model made elsewhere)."""
    path = Path(model)
    names = {path.name, path.stem}
    try:
        candidates = sorted(path.parent.glob("*.json"))
    except OSError:
        return None
    for manifest in candidates:
        try:
            if manifest.stat().st_size > MANIFEST_MAX_BYTES:
                continue
            models = json.loads(manifest.read_text(encoding="utf-8")).get("models")
        except (OSError, ValueError, AttributeError):
            continue
        if not isinstance(models, dict):
            continue
        for key, entry in models.items():
            if isinstance(entry, dict) and (
                key in names
                and not (entry.get("file") or entry.get("folder"))
                or entry.get("file") == path.name
                or entry.get("folder") == path.name
            ):
                return entry
    return None
