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


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A command run in tmp_path: no history, lock or chatllm.cpp of the user's is touched."""
    monkeypatch.setenv("ORCH_DB", str(tmp_path / "env-history.sqlite3"))
    monkeypatch.setenv("ORCH_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("CHATLLM_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path
