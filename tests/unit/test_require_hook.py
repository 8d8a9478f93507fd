"""ORCH_REQUIRE (tests/conftest.py): a skip in a test carrying a required marker fails the run
with the skip's reason; unrequired or unmarked skips stay skips; an unknown name is refused."""

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text(encoding="utf-8")
TESTS = """
import pytest

@pytest.mark.chatllm
def test_engine():
    pytest.skip("chatllm.cpp not found")

@pytest.mark.chatllm
@pytest.mark.skipif(True, reason="no build")
def test_engine_skipif():
    pass

@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request):
    if request.param == "postgresql":
        pytest.skip("initdb not found")
    return request.param

def test_store(db):
    assert db

def test_unmarked():
    pytest.skip("not needed here")
"""


@pytest.fixture
def suite(pytester):
    pytester.makeconftest(CONFTEST)
    # in process; no plugin that asks the machine about itself (pytest-benchmark runs git, hg, file)
    pytester.makeini("[pytest]\naddopts = -p no:benchmark -p no:cacheprovider\nmarkers =\n    chatllm: x\n    postgres: y\n    openvino: z\n")
    pytester.makepyfile(test_suite=TESTS)
    return pytester


def test_without_the_switch_every_missing_piece_is_a_skip(suite, monkeypatch):
    monkeypatch.delenv("ORCH_REQUIRE", raising=False)
    suite.runpytest().assert_outcomes(passed=1, skipped=4)


def test_a_required_marker_turns_its_skips_into_failures_with_the_reason(suite, monkeypatch):
    monkeypatch.setenv("ORCH_REQUIRE", "chatllm,postgres")
    res = suite.runpytest("-rA")
    # a skip in setup (a fixture's, a skipif) becomes an error, one in the test body a failure
    res.assert_outcomes(passed=1, skipped=1, failed=1, errors=2)
    assert res.ret == pytest.ExitCode.TESTS_FAILED
    res.stdout.fnmatch_lines(["*ORCH_REQUIRE=chatllm: this test must run here, but it skipped: chatllm.cpp not found*"])
    res.stdout.fnmatch_lines(["*ORCH_REQUIRE=chatllm: *no build*"])
    res.stdout.fnmatch_lines(["*ORCH_REQUIRE=postgres: *initdb not found*"])


def test_only_the_named_markers_are_required(suite, monkeypatch):
    monkeypatch.setenv("ORCH_REQUIRE", "postgres")
    suite.runpytest().assert_outcomes(passed=1, skipped=3, errors=1)


def test_a_module_skipped_at_import_fails_when_its_engine_is_required(suite, monkeypatch):
    suite.makepyfile(
        test_engine_module="""
from conftest import skip_module
skip_module("openvino-genai not installed", "openvino")

def test_never_collected():
    pass
"""
    )
    monkeypatch.delenv("ORCH_REQUIRE", raising=False)
    suite.runpytest("test_engine_module.py").assert_outcomes(skipped=1)
    monkeypatch.setenv("ORCH_REQUIRE", "openvino")
    res = suite.runpytest("test_engine_module.py")
    res.assert_outcomes(errors=1)
    res.stdout.fnmatch_lines(["*ORCH_REQUIRE=openvino: this module must run here, but it skipped: openvino-genai*"])


def test_an_unknown_name_is_refused(suite, monkeypatch):
    monkeypatch.setenv("ORCH_REQUIRE", "chatllm,cuda")
    res = suite.runpytest()
    assert res.ret == pytest.ExitCode.USAGE_ERROR
    res.stderr.fnmatch_lines(["*ORCH_REQUIRE names cuda: known are chatllm, postgres, openvino, llamacpp*"])
