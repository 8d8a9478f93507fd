"""What chatllm.cpp and its bindings print that is never why a worker ended (regexes).

The worker log keeps these lines; a crash's "why" drops them (orchestrator.run.crash_cause,
read through the registry's `EngineSpec.log_noise`).
"""

from __future__ import annotations

LOG_NOISE = (
    # bindings/chatllm.py on import when the `requests` package is missing (it only downloads models)
    r"`requests` is required\. use `pip install requests`",
)
