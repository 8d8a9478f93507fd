"""The weights profile of a test-model manifest entry and the "% of limit" figures
(orchestrator.engines.weights, orchestrator.results.limits): exact values from fixed inputs,
worked by hand from tiny-asr-a's dimensions (docs/limits.md)."""

import json

import pytest
from orchestrator.engines import weights
from orchestrator.engines.qwen3asr_weights import SPECS
from orchestrator.results.limits import runtime_limits, streamed_tokens_per_s
from orchestrator.results.model import HostLimits, IterationRecord, StrategyResult, Summary

TINY_A = dict(
    name="tiny-asr-a", seed=1, hidden=64, layers=2, heads=4, kv_heads=2, head_dim=32, intermediate=128,
    audio_d=64, audio_layers=2, audio_heads=4, audio_ffn=128, downsample=32,
)  # fmt: skip
# per decoder layer: q 128x64, k 64x64, v 64x64, o 64x128, gate/up/down 3 x 128x64
LAYER = 128 * 64 + 64 * 64 + 64 * 64 + 64 * 128 + 3 * 128 * 64
LM_HEAD = 151936 * 64
# audio matrices: conv_out (64, 32 channels x 16 bins), proj1 64x64, proj2 64x64, per layer q/k/v/out + fc1 + fc2
ENCODER = 64 * 512 + 64 * 64 + 64 * 64 + 2 * (4 * 64 * 64 + 128 * 64 + 64 * 128)
CONVS = (32 * 1 * 9, 32 * 32 * 9, 32 * 32 * 9)


def chatllm_entry(quant="q8_0"):
    """tiny-models.json's layout: the dimensions at the top level, the precision as `quant`."""
    return {"file": "tiny-asr-a.bin", "quant": quant, "shape": "tiny", **TINY_A, "aligner": False}


def transformers_entry(dtype="f32"):
    """transformers-models.json's layout: the dimensions under `spec`, the precision as `dtype`."""
    return {"folder": "tiny-asr-a", "dtype": dtype, "spec": {**TINY_A, "aligner": False, "vocab": 151936}}


def test_the_profile_counts_the_decoder_matrices_and_lm_head_at_the_stored_precision():
    p = weights.profile(chatllm_entry())
    assert (p.decoder_layer_params, p.lm_head_params) == (2 * LAYER, LM_HEAD) == (98304, 9723904)
    assert p.decoder_params_per_token == 9822208
    assert p.encoder_linear_params == ENCODER == 106496
    assert p.conv_params == CONVS and p.conv_out_bins == (64, 32, 16)
    assert p.decode_bytes_per_token == 9822208 * 34 / 32 == 10436096.0  # q8_0: 34 bytes per block of 32


def test_both_manifest_layouts_give_the_same_weights_at_their_precision():
    f32 = weights.profile(transformers_entry())
    assert f32.precision == "f32" and f32.decode_bytes_per_token == 9822208 * 4
    assert weights.profile(transformers_entry("bf16")).decode_bytes_per_token == 9822208 * 2
    assert weights.profile(chatllm_entry("q4_0")).decode_bytes_per_token == 9822208 * 18 / 32


def test_an_entry_without_dimensions_or_a_known_precision_has_no_profile():
    assert weights.profile(chatllm_entry("q3_k")) is None
    assert weights.profile({"file": "x.bin", "quant": "q8_0"}) is None
    assert weights.profile(None) is None


def test_the_profile_of_a_bigger_model_from_the_checkpoint_writers_spec():
    spec = SPECS["tiny-asr-b"]  # hidden 256, 4 layers, 8 heads, 4 KV heads, head_dim 32, intermediate 512
    p = weights.profile({"quant": "f16", **{k: getattr(spec, k) for k in spec.__dataclass_fields__}})
    layer = 256 * 256 + 2 * (128 * 256) + 256 * 256 + 3 * 512 * 256
    assert (p.decoder_layer_params, p.lm_head_params) == (4 * layer, 151936 * 256) == (2359296, 38895616)
    assert p.decode_bytes_per_token == (2359296 + 38895616) * 2


def test_encoder_positions_chunk_the_mel_frames_and_halve_them_three_times():
    # 4.9 s: 490 frames = 4 chunks of 100 (50, 25, 13) + one of 90 (45, 23, 12)
    tokens, cells = weights.encoder_positions(4.9, (64, 32, 16))
    assert tokens == 4 * 13 + 12 == 64
    assert cells == ((4 * 50 + 45) * 64, (4 * 25 + 23) * 32, 64 * 16) == (15680, 3936, 1024)


def test_encode_prefill_flops_are_two_per_weight_per_position():
    p = weights.profile(chatllm_entry())
    expected = (
        2 * ENCODER * 64
        + 2 * (CONVS[0] * 15680 + CONVS[1] * 3936 + CONVS[2] * 1024)
        + 2 * 2 * LAYER * (64 + weights.PROMPT_TOKENS)
        + 2 * LM_HEAD
    )
    assert p.encode_prefill_flops(4.9) == float(expected) == 149262336.0


def _entry(tok_s, streamed=True, ttft_ms=500.0):
    its = [IterationRecord(i=1, warmup=True, tokens_per_s=999.0)] + [
        IterationRecord(i=k + 2, tokens_per_s=v, streamed=streamed) for k, v in enumerate(tok_s)
    ]
    return StrategyResult("restart", iterations=its, summary=Summary(ttft_ms_median=ttft_ms))


def test_decode_and_prefill_against_the_host_limits():
    host = HostLimits(threads=2, bandwidth_gb_s=10.0, matmul_gflops=100.0)
    p = weights.profile(chatllm_entry())
    lim = runtime_limits(_entry([10.0, 30.0, 20.0]), host, p, 4.9)
    assert lim.decode_limit_tok_s == pytest.approx(10e9 / 10436096.0, rel=1e-12)
    assert lim.decode_pct == pytest.approx(100 * 20.0 / (10e9 / 10436096.0), rel=1e-12)  # the median, warm-up left out
    assert lim.encode_prefill_gflop == pytest.approx(0.149262336, rel=1e-12)
    assert lim.encode_prefill_gflops == pytest.approx(0.149262336 / 0.5, rel=1e-12)
    assert lim.encode_prefill_pct == pytest.approx(100 * 0.298524672 / 100.0, rel=1e-12)
    assert (lim.precision, lim.note) == ("q8_0", None)


def test_output_that_did_not_stream_has_no_decode_figure():
    host = HostLimits(bandwidth_gb_s=10.0, matmul_gflops=100.0)
    entry = _entry([10.0, 30.0], streamed=False)
    lim = runtime_limits(entry, host, weights.profile(chatllm_entry()), 4.9)
    assert streamed_tokens_per_s(entry) is None
    assert lim.decode_pct is None and lim.decode_limit_tok_s is not None
    assert lim.encode_prefill_pct is not None
    assert lim.note == "no streamed tok/s"


def test_no_host_limits_or_no_profile_leave_the_figures_unknown():
    lim = runtime_limits(_entry([10.0]), HostLimits(error="the host probe failed (exit 1): MemoryError"), None, 4.9)
    assert (lim.decode_limit_tok_s, lim.decode_pct, lim.encode_prefill_gflops, lim.encode_prefill_pct) == (
        None, None, None, None,
    )  # fmt: skip
    assert lim.note.startswith("no weights profile of the model")
    assert "no host limits (the host probe failed (exit 1): MemoryError)" in lim.note


def test_the_manifest_entry_of_a_model_file_or_folder(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "tiny-models.json").write_text(json.dumps({"models": {"tiny-asr-a": chatllm_entry()}}))
    (tmp_path / "tt" / "tiny-asr-a").mkdir(parents=True)
    manifest = {"models": {"tiny-asr-a": transformers_entry()}}
    (tmp_path / "tt" / "transformers-models.json").write_text(json.dumps(manifest))
    assert weights.manifest_entry(tmp_path / "tiny" / "tiny-asr-a.bin")["quant"] == "q8_0"
    assert weights.manifest_entry(tmp_path / "tt" / "tiny-asr-a")["dtype"] == "f32"
    assert weights.manifest_entry(tmp_path / "tiny" / "other.bin") is None
    assert weights.manifest_entry(tmp_path / "nowhere" / "x.bin") is None


def test_the_docs_example_is_the_codes_figure_and_names_only_compares_options():
    import re
    from pathlib import Path

    from orchestrator.commands.run import compare

    text = (Path(__file__).resolve().parents[2] / "docs" / "limits.md").read_text(encoding="utf-8")
    assert "9,822,208\nweights × 34/32 = 10,436,096 bytes per token" in text
    assert f"{weights.profile(chatllm_entry()).decode_bytes_per_token:,.0f}" == "10,436,096"
    flags = {o for p in compare.params for o in p.opts + p.secondary_opts}
    named = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", text)) - {"--runtime", "--html"}  # make-test-models', report's
    assert named <= flags, named - flags
