import os
import signal
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


# Engines and services a run must test rather than skip: ORCH_REQUIRE=chatllm,postgres,... (.ci/run
# sets it). A test marked with a required marker that skips -- a missing build, model, server or
# package -- fails instead, with the skip's reason, so CI cannot go green without running it.
REQUIRABLE = ("chatllm", "postgres", "openvino", "llamacpp")


def required() -> set[str]:
    return {w.strip() for w in os.environ.get("ORCH_REQUIRE", "").split(",") if w.strip()}


def skip_module(reason: str, needs: str) -> None:
    """A whole module's skip (a missing package, found at import): a failure when `needs` is
    required, since no test of the module is collected for the hook below to see."""
    if needs in required():
        pytest.fail(f"ORCH_REQUIRE={needs}: this module must run here, but it skipped: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def _ignore(_signum, _frame) -> None:
    """pytest's own SIGHUP under nohup: nothing (a handler, unlike SIG_IGN, is not inherited)."""


def pytest_configure(config):
    # run from a background job of a non-interactive shell (`(nohup .ci/run &)`), pytest starts
    # with SIGINT ignored, and every `orch` the tests start would inherit that and ignore the
    # Ctrl-C the tests send it (orch keeps an ignored signal ignored, as nohup means it): a
    # handler of our own is reset to the default in each child at exec, so they take Ctrl-C
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    # the same for SIGHUP under `nohup`: pytest keeps ignoring it (a handler that does nothing),
    # the `orch` processes the tests send it to get the default back at exec
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _ignore)
    unknown = required() - set(REQUIRABLE)
    if unknown:
        raise pytest.UsageError(f"ORCH_REQUIRE names {', '.join(sorted(unknown))}: known are {', '.join(REQUIRABLE)}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    needed = sorted(required() & {m.name for m in item.iter_markers()})
    if needed:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"ORCH_REQUIRE={','.join(needed)}: this test must run here, but it skipped: {reason}"
