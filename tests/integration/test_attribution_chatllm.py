"""`orch attribute` on the real engine: the bindings' re-create of a tiny chatllm.cpp model,
traced with memray. The stacks named must explain at least 80% of the growth the traced
run's sampler measured, and name chatllm.cpp or ggml functions.

Skips, saying which piece is missing, without memray, a chatllm.cpp build (CHATLLM_DIR) or
the tiny models (fixtures of test_chatllm_integration). ~30 s.
"""

from __future__ import annotations

import pytest
from orchestrator.studies import attribution
from test_chatllm_integration import chatllm, chatllm_plan, tiny_models  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.chatllm,
    pytest.mark.slow,
    pytest.mark.skipif(attribution.tracer_missing() is not None, reason=str(attribution.tracer_missing())),
]


def test_recreate_growth_is_explained_by_named_chatllm_stacks(tmp_path, chatllm, tiny_models):  # noqa: F811
    plan = chatllm_plan(tmp_path, chatllm, ["recreate"], [tiny_models["tiny-asr-a"]], iters=6, threads=2)
    entry, att = attribution.attribute_strategy(plan, "recreate")
    assert att.error is None, att.error
    assert att.weighting == "resident"
    assert att.explained_fraction is not None and att.explained_fraction >= 0.8, att
    names = " ".join(s.name for s in att.stacks)
    assert "tokenizer" in names or "load_vocab" in names, names
    assert any(n in names for n in ("ggml_", "chatllm::")), names
