"""The crispasr engine's parent-side parts that need neither the wheel nor a converter: the
GGUF header reader, what the maker refuses and estimates, the test-model lookup, the
pre-flight's model check and the registry entry."""

import json
import struct
from types import SimpleNamespace

import pytest
from orchestrator.engines import registry
from orchestrator.engines.crispasr import gguf_header, preflight
from orchestrator.engines.crispasr import testmodels as tm
from orchestrator.engines.qwen3asr_weights import ALL_SPECS, MakeError


def _string(s: str) -> bytes:
    data = s.encode()
    return struct.pack("<Q", len(data)) + data


def write_gguf(path, kvs: list[tuple[str, int, bytes]], version: int = 3) -> str:
    """A GGUF header with these (key, type, encoded value) pairs and no tensors."""
    body = b"GGUF" + struct.pack("<IQQ", version, 0, len(kvs))
    for key, kind, value in kvs:
        body += _string(key) + struct.pack("<I", kind) + value
    path.write_bytes(body)
    return str(path)


def test_the_header_gives_the_keys_asked_for_past_arrays_and_scalars(tmp_path):
    tokens = struct.pack("<IQ", 8, 3) + b"".join(_string(t) for t in ("a", "bb", "<asr_text>"))
    path = write_gguf(
        tmp_path / "m.gguf",
        [
            ("general.architecture", 8, _string("qwen3asr")),
            ("qwen3asr.n_mels", 4, struct.pack("<I", 128)),
            ("tokenizer.ggml.tokens", 9, tokens),
            ("qwen3asr.llm.rope_theta", 6, struct.pack("<f", 1e6)),
            ("orch.test_model", 8, _string("test model, random weights")),
        ],
    )
    keys = gguf_header.read_keys(path)
    assert keys == {"general.architecture": "qwen3asr", "orch.test_model": "test model, random weights"}
    assert gguf_header.read_keys(path, ("tokenizer.ggml.tokens", "qwen3asr.n_mels")) == {
        "tokenizer.ggml.tokens": ["a", "bb", "<asr_text>"],
        "qwen3asr.n_mels": 128,
    }
    assert gguf_header.model_problem(path) is None
    assert gguf_header.random_model_kind(keys) == "test model, random weights"
    assert gguf_header.random_model_kind({"general.architecture": "qwen3asr"}) is None


def test_what_is_not_a_qwen3_asr_gguf_file_is_named(tmp_path):
    whisper = write_gguf(tmp_path / "w.gguf", [("general.architecture", 8, _string("whisper"))])
    assert gguf_header.model_problem(whisper) == (
        f"{whisper} is a GGUF file of architecture 'whisper', not 'qwen3asr' "
        "(Qwen3-ASR as CrispASR's converter writes it)"
    )
    (tmp_path / "text.bin").write_text("hello")
    assert gguf_header.model_problem(str(tmp_path / "text.bin")) == f"{tmp_path / 'text.bin'} is not a GGUF file (no GGUF magic)"
    full = (tmp_path / "w.gguf").read_bytes()
    (tmp_path / "cut.gguf").write_bytes(full[:30])
    assert "the GGUF header is cut short" in gguf_header.model_problem(str(tmp_path / "cut.gguf"))
    assert gguf_header.model_problem(str(tmp_path / "none.gguf")) == f"model file not found: {tmp_path / 'none.gguf'}"
    assert gguf_header.model_problem(str(tmp_path)) == f"the crispasr engine takes a GGUF file, not a folder: {tmp_path}"
    v1 = write_gguf(tmp_path / "v1.gguf", [], version=1)
    assert gguf_header.model_problem(v1) == f"{v1}: GGUF version 1 is too old (CrispASR reads 2 and 3)"


def test_the_maker_refuses_what_the_wheel_cannot_make(tmp_path, monkeypatch):
    monkeypatch.delenv("CRISPASR_SRC", raising=False)
    with pytest.raises(MakeError, match="q8_0: crispasr files are f16, f32 here; the crispasr wheel ships no quantizer"):
        tm.make(str(tmp_path), None, "q8_0", ("tiny-asr-a",), False, False, None)
    with pytest.raises(MakeError, match="tiny-aligner: CrispASR's converter makes Qwen3-ASR files, not the forced aligner"):
        tm.make_crispasr_test_models(tmp_path, ["tiny-aligner"])
    with pytest.raises(MakeError, match="pass --crispasr-src DIR or set CRISPASR_SRC"):
        tm.make_crispasr_test_models(tmp_path, ["tiny-asr-a"])
    with pytest.raises(MakeError, match=f"no models/convert-qwen3-asr-to-gguf.py in {tmp_path}: not a CrispASR checkout"):
        tm.make_crispasr_test_models(tmp_path, ["tiny-asr-a"], crispasr_src=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_the_estimates_match_the_files_the_converter_wrote():
    # the converter's files for tiny-asr-a (measured): f16 44,779,232 bytes, f32 84,121,792
    f16 = tm.conversion_needs(ALL_SPECS["tiny-asr-a"], "f16")
    f32 = tm.conversion_needs(ALL_SPECS["tiny-asr-a"], "f32")
    assert f16.file_bytes == 44_594_368 and abs(f16.file_bytes - 44_779_232) / 44_779_232 < 0.01
    assert f32.file_bytes == 83_937_024 and abs(f32.file_bytes - 84_121_792) / 84_121_792 < 0.01
    assert f16.disk == f16.hf_bytes + 2 * f16.file_bytes  # the folder, gguf's spool file and the file


def test_a_made_model_is_found_by_name_through_the_manifest(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / tm.DEFAULT_OUT
    out.mkdir(parents=True)
    entries = {
        "tiny-asr-a-f32": {"name": "tiny-asr-a", "precision": "f32", "file": "tiny-asr-a-f32.gguf"},
        "tiny-asr-a-f16": {"name": "tiny-asr-a", "precision": "f16", "file": "tiny-asr-a-f16.gguf"},
    }
    (out / tm.MANIFEST).write_text(json.dumps({"models": entries}))
    assert tm.find_test_model("tiny-asr-a", "tiny") is None  # in the manifest, not on disk
    (out / "tiny-asr-a-f32.gguf").write_bytes(b"GGUF")
    assert tm.find_test_model("tiny-asr-a", "tiny") == tm.Path(tm.DEFAULT_OUT) / "tiny-asr-a-f32.gguf"
    (out / "tiny-asr-a-f16.gguf").write_bytes(b"GGUF")
    assert tm.find_test_model("tiny-asr-a", "tiny") == tm.Path(tm.DEFAULT_OUT) / "tiny-asr-a-f16.gguf"
    assert tm.find_test_model("tiny-asr-a", "tiny", "f32") == tm.Path(tm.DEFAULT_OUT) / "tiny-asr-a-f32.gguf"
    assert tm.find_test_model("tiny-asr-b", "tiny") is None
    assert tm.find_test_model("tiny-asr-a", "full") is None


def test_preflight_names_each_problem(tmp_path, monkeypatch):
    monkeypatch.setattr("orchestrator.engines.crispasr.runtime.version", lambda name="crispasr": "0.8.45")
    (tmp_path / "x.bin").write_text("hello")
    plan = SimpleNamespace(scenario="align", models=[str(tmp_path / "x.bin")], audio=None)
    assert preflight.problems_for(plan) == [
        "the crispasr engine runs Qwen3-ASR only: its session has no Qwen3-ForcedAligner (--scenario align)",
        f"{tmp_path / 'x.bin'} is not a GGUF file (no GGUF magic)",
        "no audio given: pass --audio FILE.wav",
    ]


def test_the_registry_entry_runs_what_the_runtime_can():
    spec = registry.get("crispasr")
    assert spec.strategies == ("restart", "recreate", "fresh-process")
    assert spec.worker == "workers.engines.crispasr:CrispASREngine"
    assert spec.make_test_models() is tm.make
