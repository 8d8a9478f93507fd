"""The container image's identity record (orchestrator/engines/image_identity.py): written at build
time, read back by `orch doctor` and into every result's engine block; and the chatllm.cpp
build flags doctor reads from the CMake cache (orchestrator/engines/chatllm/build.py)."""

import json
import os
import subprocess

import pytest
from orchestrator.engines import image_identity
from orchestrator.engines.chatllm import build as chatllm_build
from orchestrator.engines.chatllm.paths import checkout_commit
from orchestrator.engines.image_identity import ImageIdentity, ImageIdentityError
from orchestrator.run.plan import RunPlan
from orchestrator.run.runner import execute

from conftest import FAST, REPO

COMMIT = "4a4310e165cad9232a347dd299593b8ebaae1ac1"
BUILD_ENV = (
    f"commit={COMMIT}\ndestroy_fix=1\ncmake_args=-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON\nmarch_native=skylake\n"
)
CACHE = """# This is the CMakeCache file.
//Build type
CMAKE_BUILD_TYPE:STRING=Release
CMAKE_CXX_FLAGS:STRING=
CMAKE_C_FLAGS:STRING=-fno-omit-frame-pointer
GGML_AVX2:BOOL=ON
GGML_AVX:BOOL=OFF
GGML_NATIVE:BOOL=OFF
GGML_OPENMP:BOOL=ON
BUILD_SHARED_LIBS:BOOL=ON
GGML_CCACHE_FOUND:FILEPATH=GGML_CCACHE_FOUND-NOTFOUND
"""


@pytest.fixture
def record(tmp_path, monkeypatch):
    """An image record as the Containerfile writes it, for a checkout at tmp_path/chatllm.cpp."""
    checkout = tmp_path / "chatllm.cpp"
    (checkout / "build").mkdir(parents=True)
    (checkout / "build" / "orch-build.env").write_text(BUILD_ENV)
    out = tmp_path / "orch-image.json"
    rc = image_identity.main(
        [
            "--out", str(out), "--image", "localhost/orch:check", "--revision", "abc123",
            "--created", "2026-12-02T15:00:00Z", "--chatllm-dir", str(checkout),
            "--chatllm-build", str(checkout / "build" / "orch-build.env"),
        ]
    )  # fmt: skip
    assert rc == 0
    monkeypatch.setenv(image_identity.PATH_VAR, str(out))
    monkeypatch.delenv(image_identity.DIGEST_VAR, raising=False)
    return out, checkout


def test_the_written_record_reads_back_whole(record):
    out, checkout = record
    assert json.loads(out.read_text())["schema"] == "orch.image/1"
    assert image_identity.current() == ImageIdentity(
        image="localhost/orch:check",
        revision="abc123",
        created="2026-12-02T15:00:00Z",
        chatllm_dir=str(checkout),
        chatllm_commit=COMMIT,
        chatllm_destroy_fix=True,
        chatllm_cmake_args="-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON",
        chatllm_march_native="skylake",
        digest=None,
    )


def test_engine_block_gains_the_image_and_the_digest_the_scheduler_passed(record, monkeypatch):
    _, checkout = record
    monkeypatch.setenv(image_identity.DIGEST_VAR, "sha256:0123abcd")
    assert image_identity.engine_fields() == {
        "image": {
            "image": "localhost/orch:check",
            "revision": "abc123",
            "created": "2026-12-02T15:00:00Z",
            "chatllm_dir": str(checkout),
            "chatllm_commit": COMMIT,
            "chatllm_destroy_fix": True,
            "chatllm_cmake_args": "-DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON",
            "chatllm_march_native": "skylake",
            "digest": "sha256:0123abcd",
        }
    }
    assert image_identity.current().summary() == (
        "localhost/orch:check; orch abc123; chatllm.cpp 4a4310e165ca (destroy fix, -march=native is skylake); "
        "built 2026-12-02T15:00:00Z; sha256:0123abcd"
    )


def test_outside_an_image_nothing_is_added(tmp_path, monkeypatch):
    monkeypatch.setenv(image_identity.PATH_VAR, str(tmp_path / "absent.json"))
    assert image_identity.current() is None
    assert image_identity.engine_fields() == {}
    assert image_identity.commit_for(str(tmp_path)) is None


@pytest.mark.parametrize(
    "text, why",
    [("{not json", "is not JSON"), ('{"schema": "other/1"}', "is not an orch image record"), ("[]", "is not an orch")],
)
def test_an_unreadable_record_is_said_and_never_stops_a_run(tmp_path, monkeypatch, text, why):
    bad = tmp_path / "orch-image.json"
    bad.write_text(text)
    monkeypatch.setenv(image_identity.PATH_VAR, str(bad))
    with pytest.raises(ImageIdentityError, match=why):
        image_identity.current()
    fields = image_identity.engine_fields()
    assert list(fields) == ["image"] and why in fields["image"]["error"]
    assert image_identity.commit_for(str(tmp_path)) is None


def test_the_image_commit_stands_in_for_git_only_for_the_image_checkout(record, tmp_path):
    _, checkout = record
    assert image_identity.commit_for(str(checkout)) == "4a4310e165ca"
    assert image_identity.commit_for(str(checkout / ".." / "chatllm.cpp")) == "4a4310e165ca"
    other = tmp_path / "other"
    other.mkdir()
    assert image_identity.commit_for(str(other)) is None
    # no git metadata in the image's checkout (tmp_path is in no repository): the record's commit
    assert checkout_commit(str(checkout)) == "4a4310e165ca"
    assert checkout_commit(str(other)) is None


def test_writing_without_a_commit_is_refused(tmp_path, capsys):
    env = tmp_path / "orch-build.env"
    env.write_text("destroy_fix=0\n")
    out = tmp_path / "orch-image.json"
    assert image_identity.main(["--out", str(out), "--chatllm-dir", "/x", "--chatllm-build", str(env)]) == 2
    assert capsys.readouterr().err == f"orch: {env} names no commit\n"
    assert not out.exists()
    assert image_identity.main(["--out", str(out), "--chatllm-dir", "/x", "--chatllm-build", str(tmp_path / "no")]) == 2
    assert not out.exists()


def test_build_flags_from_the_cmake_cache(tmp_path):
    (tmp_path / "build").mkdir()
    cache = tmp_path / "build" / "CMakeCache.txt"
    cache.write_text(CACHE)
    assert chatllm_build.cache_path(str(tmp_path)) == str(cache)
    assert chatllm_build.build_flags(chatllm_build.read_cache(str(cache))) == (
        "CMAKE_BUILD_TYPE=Release GGML_NATIVE=OFF GGML_OPENMP=ON BUILD_SHARED_LIBS=ON GGML_AVX2=ON "
        'CMAKE_C_FLAGS="-fno-omit-frame-pointer"'
    )
    # .ci/build_chatllm.sh's builds: every object position-independent, main's too
    pic = chatllm_build.read_cache(str(cache)) | {"CMAKE_POSITION_INDEPENDENT_CODE": "ON"}
    assert "GGML_AVX2=ON CMAKE_POSITION_INDEPENDENT_CODE=ON CMAKE_C_FLAGS=" in chatllm_build.build_flags(pic)
    # a build folder elsewhere: found from main's path (<build>/bin/main)
    other = tmp_path / "elsewhere"
    assert chatllm_build.cache_path(str(other), str(tmp_path / "build" / "bin" / "main")) == str(cache)
    assert chatllm_build.cache_path(str(other)) is None


@pytest.mark.slow
def test_doctor_reports_the_commit_the_flags_and_the_image(record):
    out, checkout = record
    (checkout / "build" / "CMakeCache.txt").write_text(CACHE)
    env = {**os.environ, image_identity.PATH_VAR: str(out), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        ["orch", "doctor", "--engine", "calibration", "--chatllm-dir", str(checkout), "--format", "json"],
        capture_output=True, text=True, env=env, cwd=checkout,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {r["item"]: (r["state"], r["detail"]) for r in json.loads(proc.stdout)}
    assert rows["chatllm.cpp commit"] == ("ok", "4a4310e165ca")
    assert rows["chatllm.cpp build"] == (
        "ok",
        'CMAKE_BUILD_TYPE=Release GGML_NATIVE=OFF GGML_OPENMP=ON BUILD_SHARED_LIBS=ON GGML_AVX2=ON CMAKE_C_FLAGS="-fno-omit-frame-pointer"',
    )
    assert rows["container image"] == (
        "ok",
        "localhost/orch:check; orch abc123; chatllm.cpp 4a4310e165ca (destroy fix, -march=native is skylake); "
        "built 2026-12-02T15:00:00Z",
    )


@pytest.mark.slow
def test_doctor_outside_an_image_has_no_image_row(tmp_path):
    env = {**os.environ, image_identity.PATH_VAR: str(tmp_path / "absent.json"), "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        ["orch", "doctor", "--engine", "calibration", "--chatllm-dir", str(tmp_path), "--format", "json"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = {r["item"]: (r["state"], r["detail"]) for r in json.loads(proc.stdout)}
    assert "container image" not in rows
    assert rows["chatllm.cpp build"] == ("info", "flags unknown: no build/CMakeCache.txt")


def test_a_run_in_an_image_records_it_in_the_result(record, tmp_path):
    plan = RunPlan(strategies=["restart"], iters=2, warmup=0, engine="calibration", engine_options=dict(FAST),
                   out_dir=tmp_path / "out", iter_timeout=20)  # fmt: skip
    result = execute(plan)
    assert result.results[0].status == "ok", result.results[0].error
    assert result.engine["image"]["image"] == "localhost/orch:check"
    assert result.engine["image"]["chatllm_commit"] == COMMIT
    saved = json.loads((plan.run_dir / "run.json").read_text())
    assert saved["engine"]["image"] == result.engine["image"]
