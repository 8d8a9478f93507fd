"""How close a strategy came to the host's limits (`orch compare --engines`, docs/limits.md):

- decode: limit tok/s = the host's bandwidth ÷ the bytes of decoder weights one generated
  token reads; "% of limit" = the measured streamed tok/s ÷ that limit;
- encode+prefill: the approximate FLOPs from audio to the first token ÷ the TTFT, as a share
  of the host's matrix-multiply peak at the run's threads.

Speed figures come from streamed output only: an engine that answers in one burst has no
decode speed to compare (its tok/s would be tokens ÷ a few microseconds), so its decode
figures are None.
"""

from __future__ import annotations

import statistics
from typing import TYPE_CHECKING

from orchestrator.results.model import HostLimits, RuntimeLimits, StrategyResult

if TYPE_CHECKING:  # results know no engine: the profile is handed in (orchestrator.engines.weights)
    from orchestrator.engines.weights import WeightsProfile


def streamed(entry: StrategyResult) -> bool | None:
    """Whether the measured iterations streamed (True if any did); None without iterations."""
    its = entry.measured()
    return any(it.streamed for it in its) if its else None


def streamed_tokens_per_s(entry: StrategyResult) -> float | None:
    """The median tok/s of the measured iterations whose output streamed; None without one."""
    values = [it.tokens_per_s for it in entry.measured() if it.streamed and it.tokens_per_s is not None]
    return statistics.median(values) if values else None


def _pct(value: float | None, limit: float | None) -> float | None:
    return None if value is None or not limit else 100.0 * value / limit


def runtime_limits(
    entry: StrategyResult, host: HostLimits | None, weights: WeightsProfile | None, audio_s: float | None
) -> RuntimeLimits:
    """The entry's figures against the host's limits; each None that cannot be known, and
    `note` says why."""
    missing = []
    if weights is None:
        missing.append(
            "no weights profile of the model (no make-test-models manifest beside it with its dimensions and precision)"
        )
    if host is None or host.error:
        missing.append(f"no host limits ({host.error if host else 'not measured'})")
    out = RuntimeLimits()
    if weights is not None:
        out.precision = weights.precision
        out.decode_bytes_per_token = weights.decode_bytes_per_token
        if audio_s:
            out.encode_prefill_gflop = weights.encode_prefill_flops(audio_s) / 1e9
        else:
            missing.append("no audio length")
    if host is not None and host.bandwidth_gb_s and out.decode_bytes_per_token:
        out.decode_limit_tok_s = host.bandwidth_gb_s * 1e9 / out.decode_bytes_per_token
    tok_s = streamed_tokens_per_s(entry)
    if tok_s is None:
        missing.append("no streamed tok/s")
    out.decode_pct = _pct(tok_s, out.decode_limit_tok_s)
    ttft = entry.summary.ttft_ms_median if entry.summary else None
    if out.encode_prefill_gflop is not None and ttft:
        out.encode_prefill_gflops = out.encode_prefill_gflop / (ttft / 1000)
    out.encode_prefill_pct = _pct(out.encode_prefill_gflops, host.matmul_gflops if host else None)
    out.note = "; ".join(missing) or None
    return out
