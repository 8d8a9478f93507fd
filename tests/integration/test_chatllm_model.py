"""Reading a chatllm.cpp model file's header: the early, clear error for a file that is not
a model, and the test-model mark that bounds a random model's output."""

import json
import struct
import subprocess

import pytest
from orchestrator.engines.chatllm.model_file import ModelFileError, is_test_model, read_meta


def ggmm(path, meta: dict, body=b"\0" * 64):
    raw = json.dumps(meta).encode()
    raw += b"\0" * (-len(raw) % 4)
    path.write_bytes(b"ggmm" + struct.pack("<4i", 1, 20 + len(raw), 0, 0) + raw + body)
    return path


def test_metadata_is_read(tmp_path):
    meta = {"config.json": {"orch_tiny_model": {"name": "x"}}, "model_name": "x"}
    assert read_meta(str(ggmm(tmp_path / "m.bin", meta))) == meta
    assert is_test_model(meta)
    assert not is_test_model({"config.json": {"architectures": ["Qwen3ASRForConditionalGeneration"]}})


def test_legacy_files_have_no_metadata(tmp_path):
    (tmp_path / "old.bin").write_bytes(b"ggml" + b"\0" * 64)
    assert read_meta(str(tmp_path / "old.bin")) == {}


@pytest.mark.parametrize(
    "content, message",
    [
        (b"RIFF....WAVEfmt ", "bad magic"),
        (b"", "bad magic"),
        (b"ggmm" + struct.pack("<4i", 1, 10**9, 0, 0), "metadata size"),
        (b"ggmm" + struct.pack("<4i", 1, 4000, 0, 0) + b"{}", "truncated"),
        (b"ggmm" + struct.pack("<4i", 1, 24, 0, 0) + b"\xff\xfe{x", "corrupt chatllm.cpp model metadata"),
    ],
)
def test_not_a_model_is_named(tmp_path, content, message):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    with pytest.raises(ModelFileError, match=message) as info:
        read_meta(str(bad))
    assert str(bad) in str(info.value)


def test_run_refuses_a_corrupt_model_before_any_worker(tmp_path):
    bad = tmp_path / "qwen3-asr-0.6b-q4_0.bin"
    bad.write_bytes(b"<html>not found</html>")
    proc = subprocess.run(
        [
            "orch",
            "run",
            "--engine",
            "chatllm",
            "--strategy",
            "restart",
            "--model",
            str(bad),
            "--chatllm-dir",
            str(tmp_path),
            "--out",
            str(tmp_path / "out"),
            "--no-history",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert f"not a chatllm.cpp model file (bad magic b'<htm'): {bad}" in proc.stderr
    assert not list((tmp_path / "out").glob("*/*.jsonl"))


@pytest.mark.parametrize(
    "audio, reference, expected",
    [
        ("phone-zh.wav", "0900073331", "Chinese"),  # digits only: the name tells
        ("clip.wav", "開放時間早上九點", "Chinese"),  # the reference tells
        ("jfk.wav", "And so, my fellow Americans", "English"),
        ("zhang_interview.wav", None, "English"),  # 'zhang' is not 'zh'
        ("meeting_cn_02.wav", None, "Chinese"),
    ],
)
def test_language_guess(tmp_path, audio, reference, expected):
    from types import SimpleNamespace

    from orchestrator.engines.planning import guess_language

    wav = tmp_path / audio
    if reference is not None:
        wav.with_suffix(".txt").write_text(reference, encoding="utf-8")
    language, why = guess_language(SimpleNamespace(reference=None, audio=str(wav)))
    assert language == expected and why
