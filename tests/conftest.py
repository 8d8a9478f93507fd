from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# the calibration engine at a quick pace: 14 tokens in ~20 ms
FAST = {"ttft_ms": 5.0, "token_ms": 1.0}


@pytest.fixture
def shared():
    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED}")
    return SHARED
